//! tx commands.

use super::Handler;

pub(super) fn register(_add: &mut impl FnMut(&'static str, i32, u32, (i32, i32, i32), Handler)) {}
