//! Walking a JSON value: every string leaf, object key and number, depth first, with an
//! explicit stack (arbitrarily deep JSON cannot overflow the thread's stack), with the
//! JSON pointer of each leaf.

use serde_json::Value;

/// One leaf handed to a [`Visit`]or.
pub(crate) enum Leaf<'a> {
    /// A string value; `key` is the member name when the string is an object member.
    Str { text: &'a str, key: Option<&'a str> },
    /// An object key (the path is that member's pointer).
    Key(&'a str),
    /// A number.
    Num(&'a serde_json::Number),
}

pub(crate) trait Visit {
    fn leaf(&mut self, path: &str, leaf: Leaf<'_>);
    /// Called once for each container; `depth` is its nesting level (root = 1).
    fn container(&mut self, path: &str, depth: usize);
}

enum Frame<'a> {
    Obj(serde_json::map::Iter<'a>, usize),
    Arr(std::slice::Iter<'a, Value>, usize, usize),
}

/// Appends one JSON-pointer segment (RFC 6901 escaping) to `path`.
pub(crate) fn push_pointer_segment(path: &mut String, seg: &str) {
    path.push('/');
    if seg.bytes().any(|b| b == b'~' || b == b'/') {
        for ch in seg.chars() {
            match ch {
                '~' => path.push_str("~0"),
                '/' => path.push_str("~1"),
                c => path.push(c),
            }
        }
    } else {
        path.push_str(seg);
    }
}

fn push_index(path: &mut String, mut idx: usize) {
    path.push('/');
    let mut digits = [0u8; 20];
    let mut n = 0;
    loop {
        digits[n] = b'0' + (idx % 10) as u8;
        n += 1;
        idx /= 10;
        if idx == 0 {
            break;
        }
    }
    while n > 0 {
        n -= 1;
        path.push(digits[n] as char);
    }
}

/// Visits every string leaf, object key and number of `root`, depth first, with an
/// explicit stack (no recursion).
pub(crate) fn walk<V: Visit>(root: &Value, v: &mut V) {
    let mut path = String::new();
    let mut stack: Vec<Frame<'_>> = Vec::new();
    enter(root, None, &path, &mut stack, v);
    loop {
        let (next, base) = match stack.last_mut() {
            None => break,
            Some(Frame::Obj(iter, base)) => match iter.next() {
                Some((k, val)) => (Some((Some(k.as_str()), 0usize, val)), *base),
                None => (None, *base),
            },
            Some(Frame::Arr(iter, base, idx)) => match iter.next() {
                Some(val) => {
                    let i = *idx;
                    *idx += 1;
                    (Some((None, i, val)), *base)
                }
                None => (None, *base),
            },
        };
        path.truncate(base);
        match next {
            None => {
                stack.pop();
            }
            Some((Some(key), _, val)) => {
                push_pointer_segment(&mut path, key);
                v.leaf(&path, Leaf::Key(key));
                enter(val, Some(key), &path, &mut stack, v);
            }
            Some((None, idx, val)) => {
                push_index(&mut path, idx);
                enter(val, None, &path, &mut stack, v);
            }
        }
    }
}

fn enter<'a, V: Visit>(
    val: &'a Value,
    key: Option<&'a str>,
    path: &str,
    stack: &mut Vec<Frame<'a>>,
    v: &mut V,
) {
    match val {
        Value::String(s) => v.leaf(path, Leaf::Str { text: s, key }),
        Value::Number(n) => v.leaf(path, Leaf::Num(n)),
        Value::Array(a) => {
            v.container(path, stack.len() + 1);
            stack.push(Frame::Arr(a.iter(), path.len(), 0));
        }
        Value::Object(o) => {
            v.container(path, stack.len() + 1);
            stack.push(Frame::Obj(o.iter(), path.len()));
        }
        Value::Bool(_) | Value::Null => {}
    }
}
