//! A list: a deque of packed nodes (Redis's quicklist of listpacks). Pushes and pops at either
//! end touch one node; an index walks node counts, then one node.

use std::collections::VecDeque;

use super::pack::Pack;

/// Bytes a node grows to before a new one starts (Redis's `list-max-listpack-size -2`).
pub const NODE_BYTES: usize = 8192;

/// Whether a node of `count` elements and `bytes` takes one more of `add` bytes, by
/// `list-max-listpack-size` (Redis's `_quicklistNodeAllowInsert`): a negative fill is a size
/// class (-1 = 4 KB ... -5 = 64 KB), a positive one an element count within 8 KB.
#[inline]
fn fits(count: usize, bytes: usize, add: usize) -> bool {
    let fill = super::LIMITS
        .list_fill
        .load(std::sync::atomic::Ordering::Relaxed);
    if fill < 0 {
        bytes + add < 4096 << ((-fill).min(5) - 1)
    } else {
        count < fill as usize && bytes + add <= NODE_BYTES
    }
}

#[derive(Debug, Clone, Default)]
pub struct List {
    nodes: VecDeque<Pack>,
    len: usize,
    /// Heap bytes of the nodes, kept as they change (accounting a write walks no nodes).
    bytes: usize,
    /// Where each element of the last node starts: built by the first pop from the back,
    /// kept by pushes and pops there, dropped by any other change to that node. A node's
    /// lengths read forwards only, so without it every RPOP would walk its node.
    tail: Option<Vec<u32>>,
}

impl Drop for List {
    fn drop(&mut self) {
        if self.len > super::lazyfree::THRESHOLD {
            super::lazyfree::later(std::mem::take(&mut self.nodes));
        }
    }
}

/// Equal when the elements are: how they sit in nodes is not part of the value.
impl PartialEq for List {
    fn eq(&self, other: &List) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl Eq for List {}

impl List {
    pub fn new() -> List {
        List::default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// OBJECT ENCODING's name (Redis 7.0 reports every list so).
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    pub fn heap_size(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Pack>()
            + self.bytes
            + self.tail.as_ref().map_or(0, |t| t.capacity() * 4)
    }

    /// Runs `f` on node `i`, keeping the byte count.
    fn on_node<R>(&mut self, i: usize, f: impl FnOnce(&mut Pack) -> R) -> R {
        let n = &mut self.nodes[i];
        let before = n.heap_size();
        let r = f(n);
        self.bytes = self.bytes - before + n.heap_size();
        r
    }

    pub fn push_back(&mut self, e: &[u8]) {
        match self.nodes.back() {
            Some(n) if fits(n.len(), n.bytes(), e.len()) => {
                let (last, at) = (self.nodes.len() - 1, n.bytes() as u32);
                self.on_node(last, |n| n.push(e));
                if let Some(t) = &mut self.tail {
                    t.push(at);
                }
            }
            _ => {
                let mut n = Pack::new();
                n.push(e);
                self.bytes += n.heap_size();
                self.nodes.push_back(n);
                self.tail = None;
            }
        }
        self.len += 1;
    }

    pub fn push_front(&mut self, e: &[u8]) {
        match self.nodes.front() {
            Some(n) if fits(n.len(), n.bytes(), e.len()) => {
                self.on_node(0, |n| n.replace(0, 0, 0, &[e]));
                if self.nodes.len() == 1 {
                    self.tail = None;
                }
            }
            _ => {
                let mut n = Pack::new();
                n.push(e);
                self.bytes += n.heap_size();
                self.nodes.push_front(n);
            }
        }
        self.len += 1;
    }

    pub fn pop_front(&mut self) -> Option<Vec<u8>> {
        let (s, e) = self.nodes.front()?.span(0)?;
        let v = self.on_node(0, |n| {
            let v = n.at(s).0.to_vec();
            n.replace(s, e, 1, &[]);
            v
        });
        if self.nodes.len() == 1 {
            self.tail = None;
        }
        if self.nodes[0].is_empty() {
            self.bytes -= self.nodes[0].heap_size();
            self.nodes.pop_front();
        }
        self.len -= 1;
        Some(v)
    }

    pub fn pop_back(&mut self) -> Option<Vec<u8>> {
        let last = self.nodes.len().checked_sub(1)?;
        let tail = self.tail.get_or_insert_with(|| {
            self.nodes[last]
                .iter_from(0)
                .map(|(at, _)| at as u32)
                .collect()
        });
        let start = tail.pop()? as usize;
        let v = self.on_node(last, |n| {
            let v = n.at(start).0.to_vec();
            let end = n.bytes();
            n.replace(start, end, 1, &[]);
            v
        });
        if self.nodes[last].is_empty() {
            self.bytes -= self.nodes[last].heap_size();
            self.nodes.pop_back();
            self.tail = None;
        }
        self.len -= 1;
        Some(v)
    }

    /// The node holding element `i` and `i`'s index inside it.
    fn locate(&self, i: usize) -> Option<(usize, usize)> {
        if i >= self.len {
            return None;
        }
        // From the nearer end.
        if i < self.len / 2 {
            let mut i = i;
            for (n, node) in self.nodes.iter().enumerate() {
                if i < node.len() {
                    return Some((n, i));
                }
                i -= node.len();
            }
        } else {
            let mut back = self.len - 1 - i;
            for (n, node) in self.nodes.iter().enumerate().rev() {
                if back < node.len() {
                    return Some((n, node.len() - 1 - back));
                }
                back -= node.len();
            }
        }
        None
    }

    pub fn get(&self, i: usize) -> Option<&[u8]> {
        let (n, j) = self.locate(i)?;
        let node = &self.nodes[n];
        node.span(j).map(|(s, _)| node.at(s).0)
    }

    /// Replaces element `i`; false when out of range.
    pub fn set(&mut self, i: usize, e: &[u8]) -> bool {
        let Some((n, j)) = self.locate(i) else {
            return false;
        };
        match self.nodes[n].span(j) {
            Some((s, end)) => {
                self.on_node(n, |node| node.replace(s, end, 1, &[e]));
                if n + 1 == self.nodes.len() {
                    self.tail = None;
                }
                true
            }
            None => false,
        }
    }

    /// Elements `start..=end` (indexes already in range), in order.
    pub fn range(&self, start: usize, end: usize) -> impl Iterator<Item = &[u8]> + '_ {
        let first = self.locate(start);
        let count = if first.is_some() && end >= start {
            end.min(self.len - 1) - start + 1
        } else {
            0
        };
        let (n0, j0) = first.unwrap_or((0, 0));
        self.nodes
            .iter()
            .skip(n0)
            .enumerate()
            .flat_map(move |(k, node)| node.iter().skip(if k == 0 { j0 } else { 0 }))
            .take(count)
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.nodes.iter().flat_map(|n| n.iter())
    }

    /// Inserts `e` before position `at` (`len` appends); false when past the end.
    pub fn insert(&mut self, at: usize, e: &[u8]) -> bool {
        if at > self.len {
            return false;
        }
        let mut items: Vec<&[u8]> = self.iter().collect();
        items.insert(at, e);
        *self = List::from_items(items);
        true
    }

    /// LREM: removes up to `count` elements equal to `target` (all for 0; from the tail when
    /// negative); returns how many.
    pub fn remove_matching(&mut self, count: i64, target: &[u8]) -> usize {
        let limit = if count == 0 {
            usize::MAX
        } else {
            count.unsigned_abs() as usize
        };
        let matches: Vec<usize> = self
            .iter()
            .enumerate()
            .filter(|(_, e)| *e == target)
            .map(|(i, _)| i)
            .collect();
        let mut keep = vec![true; self.len];
        let chosen: Vec<usize> = if count < 0 {
            matches.iter().rev().take(limit).copied().collect()
        } else {
            matches.iter().take(limit).copied().collect()
        };
        for &i in &chosen {
            keep[i] = false;
        }
        if !chosen.is_empty() {
            *self = List::from_items(self.iter().zip(&keep).filter(|(_, k)| **k).map(|(e, _)| e));
        }
        chosen.len()
    }

    /// Keeps elements `start..=end` only (in range, `start <= end`); false otherwise.
    pub fn trim(&mut self, start: usize, end: usize) -> bool {
        if start > end || end >= self.len {
            return false;
        }
        *self = List::from_items(self.range(start, end));
        true
    }

    /// Rebuilds the list from `items` (for the operations that rewrite the middle of a list:
    /// LINSERT, LREM, LTRIM — linear, as in Redis, but over the whole list).
    pub fn from_items<'a>(items: impl IntoIterator<Item = &'a [u8]>) -> List {
        let mut l = List::new();
        for i in items {
            l.push_back(i);
        }
        l
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_ends_and_the_middle_across_many_nodes() {
        let mut l = List::new();
        let mut model: VecDeque<Vec<u8>> = VecDeque::new();
        for i in 0..5000u32 {
            let e = format!("element-{i:08}").into_bytes();
            if i % 3 == 0 {
                l.push_front(&e);
                model.push_front(e);
            } else {
                l.push_back(&e);
                model.push_back(e);
            }
        }
        assert!(l.nodes.len() > 5, "{} nodes", l.nodes.len());
        assert_eq!(l.len(), model.len());
        for i in [0, 1, 2500, 4998, 4999] {
            assert_eq!(l.get(i), Some(&model[i][..]), "{i}");
        }
        assert_eq!(l.get(5000), None);
        let got: Vec<&[u8]> = l.range(1000, 1100).collect();
        let want: Vec<&[u8]> = model.range(1000..=1100).map(|v| &v[..]).collect();
        assert_eq!(got, want);
        assert!(l.set(4000, b"changed"));
        model[4000] = b"changed".to_vec();
        for _ in 0..2600 {
            assert_eq!(l.pop_back(), model.pop_back());
            assert_eq!(l.pop_front(), model.pop_front());
        }
        assert_eq!(l.len(), 0);
        assert!(l.is_empty() && l.nodes.is_empty());
        assert_eq!(l.bytes, 0);
        assert_eq!(l.pop_back(), None);
    }

    proptest::proptest! {
        /// Any sequence of operations leaves the list equal to a VecDeque that did the same.
        #[test]
        fn a_list_behaves_as_a_deque(ops in proptest::collection::vec((0u8..6, 0usize..3000, 0usize..200), 1..400)) {
            let mut l = List::new();
            let mut model: VecDeque<Vec<u8>> = VecDeque::new();
            for (n, (op, size, at)) in ops.into_iter().enumerate() {
                let e = vec![(n % 251) as u8; size % 700];
                match op {
                    0 => { l.push_front(&e); model.push_front(e); }
                    1 => { l.push_back(&e); model.push_back(e); }
                    2 => proptest::prop_assert_eq!(l.pop_front(), model.pop_front()),
                    3 => proptest::prop_assert_eq!(l.pop_back(), model.pop_back()),
                    4 => {
                        let ok = l.set(at, &e);
                        proptest::prop_assert_eq!(ok, at < model.len());
                        if ok { model[at] = e; }
                    }
                    _ => proptest::prop_assert_eq!(l.get(at), model.get(at).map(|v| &v[..])),
                }
                proptest::prop_assert_eq!(l.len(), model.len());
            }
            let all: Vec<&[u8]> = l.iter().collect();
            let want: Vec<&[u8]> = model.iter().map(|v| &v[..]).collect();
            proptest::prop_assert_eq!(all, want);
            let exact: usize = l.nodes.iter().map(Pack::heap_size).sum();
            proptest::prop_assert_eq!(l.bytes, exact);
        }
    }
}
