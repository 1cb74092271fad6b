//! Glob matching with Redis's `stringmatchlen` semantics (KEYS, SCAN MATCH, PSUBSCRIBE, ...).
//!
//! `*` any run, `?` one byte, `[abc]` a set, `[^a]` a negated set, `[a-z]` a range (reversed
//! ranges are accepted), `\x` a literal `x`; an unterminated `[` set ends at the end of the
//! pattern. Matching is byte-wise; `nocase` folds ASCII letters. Like Redis 7, nesting of `*` is
//! capped at 1000 levels and a failed tail match stops longer `*` expansions, so hostile patterns
//! stay polynomial. As in Redis, a pattern never matches an empty string unless it is empty
//! itself (`*` included): callers special-case a lone `*` as "everything", as KEYS and SCAN do.

/// True if `string` matches the glob `pattern`.
pub fn glob_match(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    let mut skip_longer = false;
    match_impl(pattern, string, nocase, &mut skip_longer, 0)
}

/// True if `pattern` contains no special character, so it can only match itself.
pub fn is_literal(pattern: &[u8]) -> bool {
    !pattern
        .iter()
        .any(|c| matches!(c, b'*' | b'?' | b'[' | b'\\'))
}

#[inline]
fn fold(c: u8, nocase: bool) -> u8 {
    if nocase {
        c.to_ascii_lowercase()
    } else {
        c
    }
}

fn match_impl(pat: &[u8], s: &[u8], nocase: bool, skip_longer: &mut bool, nesting: u32) -> bool {
    if nesting > 1000 {
        return false;
    }
    // `p` and `i` index `pat` and `s`; reading past the end of `pat` yields 0 like the C string
    // terminator Redis relies on.
    let at = |i: usize| -> u8 { pat.get(i).copied().unwrap_or(0) };
    let mut p = 0usize;
    let mut i = 0usize;
    while p < pat.len() && i < s.len() {
        match pat[p] {
            b'*' => {
                while p + 1 < pat.len() && pat[p + 1] == b'*' {
                    p += 1;
                }
                if p + 1 == pat.len() {
                    return true;
                }
                while i < s.len() {
                    if match_impl(&pat[p + 1..], &s[i..], nocase, skip_longer, nesting + 1) {
                        return true;
                    }
                    if *skip_longer {
                        return false;
                    }
                    i += 1;
                }
                *skip_longer = true;
                return false;
            }
            b'?' => {
                i += 1;
            }
            b'[' => {
                p += 1;
                let not = at(p) == b'^';
                if not {
                    p += 1;
                }
                let mut matched = false;
                let c = s[i];
                loop {
                    if at(p) == b'\\' && pat.len() - p >= 2 {
                        p += 1;
                        if at(p) == c {
                            matched = true;
                        }
                    } else if at(p) == b']' {
                        break;
                    } else if p >= pat.len() {
                        p -= 1;
                        break;
                    } else if pat.len() - p >= 3 && at(p + 1) == b'-' {
                        let (mut start, mut end) = (at(p), at(p + 2));
                        if start > end {
                            std::mem::swap(&mut start, &mut end);
                        }
                        let (start, end, cc) =
                            (fold(start, nocase), fold(end, nocase), fold(c, nocase));
                        p += 2;
                        if cc >= start && cc <= end {
                            matched = true;
                        }
                    } else if fold(at(p), nocase) == fold(c, nocase) {
                        matched = true;
                    }
                    p += 1;
                }
                if not {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                i += 1;
            }
            b'\\' => {
                if pat.len() - p >= 2 {
                    p += 1;
                }
                if fold(pat[p], nocase) != fold(s[i], nocase) {
                    return false;
                }
                i += 1;
            }
            c => {
                if fold(c, nocase) != fold(s[i], nocase) {
                    return false;
                }
                i += 1;
            }
        }
        p += 1;
        if i == s.len() {
            while p < pat.len() && pat[p] == b'*' {
                p += 1;
            }
            break;
        }
    }
    p == pat.len() && i == s.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        glob_match(p.as_bytes(), s.as_bytes(), false)
    }

    #[test]
    fn stars_and_questions() {
        // Redis quirk: `*` does not match the empty string (KEYS/SCAN special-case a lone `*`).
        assert!(!m("*", ""));
        assert!(m("a*", "a"));
        assert!(m("*", "anything"));
        assert!(m("a*", "a"));
        assert!(m("a*b", "aXXXb"));
        assert!(!m("a*b", "aXXXc"));
        assert!(m("h?llo", "hello"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("h*llo", "hllo"));
        assert!(m("**a**", "bab"));
        assert!(m("enkrypt:tools:*", "enkrypt:tools:0123abcd"));
        assert!(!m("enkrypt:tools:*", "enkrypt:gateway_config:1"));
        assert!(!m("?", ""));
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(!m("a", ""));
    }

    #[test]
    fn sets_ranges_and_negation() {
        // The KEYS examples from the Redis documentation.
        assert!(m("h[ae]llo", "hello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hallo"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(!m("h[a-b]llo", "hcllo"));
        assert!(m("h[b-a]llo", "hallo"), "reversed range");
        assert!(m("[a-c-e]", "e"));
        assert!(!m("[]", "]"));
        assert!(m("[\\]]", "]"));
        assert!(m("[\\-]", "-"));
        assert!(m("[abc", "c"), "unterminated set ends at pattern end");
        assert!(!m("[abc", "d"));
        assert!(m("[^", "x"), "Redis: an empty negated set matches any byte");
    }

    #[test]
    fn escapes() {
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "a"));
        assert!(m("a\\?b", "a?b"));
        assert!(!m("a\\?b", "axb"));
        assert!(m("\\", "\\"), "trailing backslash is literal");
        assert!(m("\\[a]", "[a]"));
    }

    #[test]
    fn nocase() {
        assert!(glob_match(b"HeLLo", b"hello", true));
        assert!(glob_match(b"h[A-Z]llo", b"hello", true));
        assert!(!glob_match(b"HeLLo", b"hello", false));
        assert!(glob_match(b"h[^X]llo", b"hello", true));
    }

    #[test]
    fn hostile_pattern_terminates_quickly() {
        let pat = "a*".repeat(30) + "b";
        let s = "a".repeat(60);
        let t = std::time::Instant::now();
        assert!(!m(&pat, &s));
        assert!(t.elapsed().as_secs() < 2);
        let deep = "*?".repeat(2000);
        assert!(!m(&deep, "short"));
    }

    #[test]
    fn binary_and_literal_detection() {
        assert!(glob_match(b"\x00*\xff", b"\x00abc\xff", false));
        assert!(is_literal(b"plain:key"));
        assert!(!is_literal(b"k*"));
        assert!(!is_literal(b"k\\x"));
    }
}
