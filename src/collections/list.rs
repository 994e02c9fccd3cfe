//! A list: a deque of packed nodes (Redis's quicklist of listpacks). Pushes and pops at either
//! end touch one node; an index walks node counts, then one node. Nodes more than
//! `list-compress-depth` from either end are kept LZ4-compressed (Redis compresses them with
//! LZF under the same parameter): the ends, where queues push and pop, stay plain, and the
//! cold middle of a long list costs a fraction of its bytes.

use std::borrow::Cow;
use std::collections::VecDeque;

use super::pack::{self, Pack};

/// Bytes a node grows to before a new one starts (Redis's `list-max-listpack-size -2`).
pub const NODE_BYTES: usize = 8192;

/// Nodes smaller than this are not worth compressing (Redis's `MIN_COMPRESS_BYTES`).
const MIN_COMPRESS: usize = 48;

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

/// A node: its pack, or the pack's bytes compressed.
#[derive(Debug, Clone)]
enum Node {
    Plain(Pack),
    Frozen { data: Box<[u8]>, raw: u32, len: u32 },
}

impl Node {
    fn len(&self) -> usize {
        match self {
            Node::Plain(p) => p.len(),
            Node::Frozen { len, .. } => *len as usize,
        }
    }

    /// Bytes of the plain encoding.
    fn bytes(&self) -> usize {
        match self {
            Node::Plain(p) => p.bytes(),
            Node::Frozen { raw, .. } => *raw as usize,
        }
    }

    fn heap_size(&self) -> usize {
        match self {
            Node::Plain(p) => p.heap_size(),
            Node::Frozen { data, .. } => crate::util::alloc::size_class(data.len()),
        }
    }

    /// The node's pack, decompressed when frozen.
    fn pack(&self) -> Cow<'_, Pack> {
        match self {
            Node::Plain(p) => Cow::Borrowed(p),
            Node::Frozen { data, raw, len } => {
                // Only `freeze` makes a frozen node, from `compress`'s output: it decompresses.
                let buf = lz4_flex::block::decompress(data, *raw as usize)
                    .expect("a node this list compressed");
                Cow::Owned(Pack::from_raw(buf, *len))
            }
        }
    }

    fn thaw(&mut self) -> &mut Pack {
        if let Node::Frozen { .. } = self {
            *self = Node::Plain(self.pack().into_owned());
        }
        match self {
            Node::Plain(p) => p,
            Node::Frozen { .. } => unreachable!("thawed above"),
        }
    }

    fn freeze(&mut self) {
        if let Node::Plain(p) = self
            && p.bytes() >= MIN_COMPRESS
        {
            let data = lz4_flex::block::compress(p.raw());
            // Kept only when it saves something worth a decompression (Redis: 8 bytes).
            if data.len() + 8 <= p.bytes() {
                *self = Node::Frozen {
                    data: data.into_boxed_slice(),
                    raw: p.bytes() as u32,
                    len: p.len() as u32,
                };
            }
        }
    }

    /// The node's elements from the `skip`th on.
    fn elements(&self, skip: usize) -> Elements<'_> {
        match self {
            Node::Plain(p) => {
                let mut it = p.iter();
                if skip > 0 {
                    it.nth(skip - 1);
                }
                Elements::Plain(it)
            }
            frozen => {
                let p = frozen.pack().into_owned();
                let at = p.span(skip).map_or(p.bytes(), |(s, _)| s);
                Elements::Thawed(p, at)
            }
        }
    }
}

/// A node's elements: borrowed from a plain node, copied out of a decompressed one.
enum Elements<'a> {
    Plain(pack::Iter<'a>),
    Thawed(Pack, usize),
}

impl<'a> Iterator for Elements<'a> {
    type Item = Cow<'a, [u8]>;

    #[inline]
    fn next(&mut self) -> Option<Cow<'a, [u8]>> {
        match self {
            Elements::Plain(it) => it.next().map(Cow::Borrowed),
            Elements::Thawed(p, at) => {
                if *at >= p.bytes() {
                    return None;
                }
                let (e, next) = p.at(*at);
                let e = e.to_vec();
                *at = next;
                Some(Cow::Owned(e))
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct List {
    nodes: VecDeque<Node>,
    len: usize,
    /// Heap bytes of the nodes, kept as they change (accounting a write walks no nodes).
    bytes: usize,
    /// Where each element of the last node starts: built by the first pop from the back,
    /// kept by pushes and pops there, dropped by any other change to that node. A node's
    /// lengths read forwards only, so without it every RPOP would walk its node.
    tail: Option<Vec<u32>>,
    /// Plain nodes kept at each end (`list-compress-depth` when the list was made; 0: none
    /// compressed).
    depth: u16,
}

impl Default for List {
    fn default() -> List {
        List::new()
    }
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
        List::with_depth(super::LIMITS.list_compress())
    }

    fn with_depth(depth: u16) -> List {
        List {
            nodes: VecDeque::new(),
            len: 0,
            bytes: 0,
            tail: None,
            depth,
        }
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
        self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.bytes
            + self.tail.as_ref().map_or(0, |t| t.capacity() * 4)
    }

    /// Nodes held compressed (for tests and MEMORY's curious).
    pub fn compressed_nodes(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| matches!(n, Node::Frozen { .. }))
            .count()
    }

    /// Whether node `i` is further than `depth` from both ends.
    fn interior(&self, i: usize) -> bool {
        let d = self.depth as usize;
        d > 0 && i >= d && i + d < self.nodes.len()
    }

    /// Runs `f` on node `i`'s plain pack (decompressing it if needed), keeping the byte count.
    fn on_node<R>(&mut self, i: usize, f: impl FnOnce(&mut Pack) -> R) -> R {
        let n = &mut self.nodes[i];
        let before = n.heap_size();
        let r = f(n.thaw());
        self.bytes = self.bytes - before + n.heap_size();
        r
    }

    fn freeze(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        let before = n.heap_size();
        n.freeze();
        self.bytes = self.bytes - before + n.heap_size();
    }

    /// After a node came or went at an end: the `depth` nodes at each end plain, the first
    /// one inside them compressed. O(depth), and a node is compressed once as it leaves an end.
    fn settle(&mut self) {
        let (d, n) = (self.depth as usize, self.nodes.len());
        if d == 0 {
            return;
        }
        for i in (0..d.min(n)).chain(n.saturating_sub(d)..n) {
            self.on_node(i, |_| ());
        }
        if n > 2 * d {
            self.freeze(d);
            self.freeze(n - 1 - d);
        }
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
                self.nodes.push_back(Node::Plain(n));
                self.tail = None;
                self.settle();
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
                self.nodes.push_front(Node::Plain(n));
                self.settle();
            }
        }
        self.len += 1;
    }

    pub fn pop_front(&mut self) -> Option<Vec<u8>> {
        if self.nodes.is_empty() {
            return None;
        }
        let v = self.on_node(0, |n| {
            let (s, e) = n.span(0)?;
            let v = n.at(s).0.to_vec();
            n.replace(s, e, 1, &[]);
            Some(v)
        })?;
        if self.nodes.len() == 1 {
            self.tail = None;
        }
        if self.nodes[0].len() == 0 {
            self.bytes -= self.nodes[0].heap_size();
            self.nodes.pop_front();
            self.settle();
        }
        self.len -= 1;
        Some(v)
    }

    pub fn pop_back(&mut self) -> Option<Vec<u8>> {
        let last = self.nodes.len().checked_sub(1)?;
        self.on_node(last, |_| ());
        let tail = match &mut self.tail {
            Some(t) => t,
            None => {
                let pack = self.nodes[last].pack();
                let t = pack.iter_from(0).map(|(at, _)| at as u32).collect();
                self.tail.insert(t)
            }
        };
        let start = tail.pop()? as usize;
        let v = self.on_node(last, |n| {
            let v = n.at(start).0.to_vec();
            let end = n.bytes();
            n.replace(start, end, 1, &[]);
            v
        });
        if self.nodes[last].len() == 0 {
            self.bytes -= self.nodes[last].heap_size();
            self.nodes.pop_back();
            self.tail = None;
            self.settle();
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

    pub fn get(&self, i: usize) -> Option<Cow<'_, [u8]>> {
        let (n, j) = self.locate(i)?;
        self.nodes[n].elements(j).next()
    }

    /// Replaces element `i`; false when out of range.
    pub fn set(&mut self, i: usize, e: &[u8]) -> bool {
        let Some((n, j)) = self.locate(i) else {
            return false;
        };
        let done = self.on_node(n, |node| match node.span(j) {
            Some((s, end)) => {
                node.replace(s, end, 1, &[e]);
                true
            }
            None => false,
        });
        if n + 1 == self.nodes.len() {
            self.tail = None;
        }
        if self.interior(n) {
            self.freeze(n);
        }
        done
    }

    /// Elements `start..=end` (indexes already in range), in order.
    pub fn range(&self, start: usize, end: usize) -> impl Iterator<Item = Cow<'_, [u8]>> + '_ {
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
            .flat_map(move |(k, node)| node.elements(if k == 0 { j0 } else { 0 }))
            .take(count)
    }

    /// Calls `f` on elements `start..=end` (indexes already in range), in order: a compressed
    /// node is decompressed once and its elements lent, not copied one by one (LRANGE, saves).
    pub fn visit(&self, start: usize, end: usize, mut f: impl FnMut(&[u8])) {
        let Some((n0, j0)) = self.locate(start) else {
            return;
        };
        if end < start {
            return;
        }
        let mut left = end.min(self.len - 1) - start + 1;
        for (k, node) in self.nodes.iter().skip(n0).enumerate() {
            let pack = node.pack();
            for e in pack.iter().skip(if k == 0 { j0 } else { 0 }) {
                if left == 0 {
                    return;
                }
                f(e);
                left -= 1;
            }
            if left == 0 {
                return;
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = Cow<'_, [u8]>> + '_ {
        self.nodes.iter().flat_map(|n| n.elements(0))
    }

    /// Inserts `e` before position `at` (`len` appends); false when past the end.
    pub fn insert(&mut self, at: usize, e: &[u8]) -> bool {
        if at > self.len {
            return false;
        }
        if at == self.len {
            self.push_back(e);
            return true;
        }
        let Some((n, j)) = self.locate(at) else {
            return false;
        };
        self.on_node(n, |p| {
            if let Some((s, _)) = p.span(j) {
                p.replace(s, s, 0, &[e]);
            }
        });
        self.len += 1;
        if n + 1 == self.nodes.len() {
            self.tail = None;
        }
        // Past its size, the node splits in two: the write stays local to one node.
        let (count, bytes) = (self.nodes[n].len(), self.nodes[n].bytes());
        if count > 1 && !fits(count - 1, bytes, 0) {
            let items: Vec<Vec<u8>> = self.nodes[n].elements(0).map(Cow::into_owned).collect();
            let (front, back) = items.split_at(items.len() / 2);
            let pack = |part: &[Vec<u8>]| {
                let mut p = Pack::new();
                for i in part {
                    p.push(i);
                }
                Node::Plain(p)
            };
            let (a, b) = (pack(front), pack(back));
            self.bytes = self.bytes - self.nodes[n].heap_size() + a.heap_size() + b.heap_size();
            self.nodes[n] = a;
            self.nodes.insert(n + 1, b);
            self.tail = None;
            self.refreeze(n + 1);
        }
        self.refreeze(n);
        self.settle();
        true
    }

    /// Compresses node `i` again if it is away from the ends (after a change thawed it).
    fn refreeze(&mut self, i: usize) {
        if self.interior(i) {
            self.freeze(i);
        }
    }

    /// LREM: removes up to `count` elements equal to `target` (all for 0; from the tail when
    /// negative); returns how many. Only the nodes that held them are rewritten.
    pub fn remove_matching(&mut self, count: i64, target: &[u8]) -> usize {
        let limit = if count == 0 {
            usize::MAX
        } else {
            count.unsigned_abs() as usize
        };
        let mut matches: Vec<usize> = Vec::new();
        let mut i = 0;
        if !self.is_empty() {
            self.visit(0, self.len - 1, |e| {
                if e == target {
                    matches.push(i);
                }
                i += 1;
            });
        }
        let mut chosen: Vec<usize> = if count < 0 {
            matches.iter().rev().take(limit).copied().collect()
        } else {
            matches.iter().take(limit).copied().collect()
        };
        if chosen.is_empty() {
            return 0;
        }
        chosen.sort_unstable();
        let removed = chosen.len();
        // Node by node, from the back so that indexes in front stay valid.
        let mut starts = Vec::with_capacity(self.nodes.len());
        let mut at = 0;
        for n in &self.nodes {
            starts.push(at);
            at += n.len();
        }
        for n in (0..self.nodes.len()).rev() {
            // `chosen` is sorted: this node's share is its tail (taken off, so each index is
            // looked at once), highest first.
            let first = starts[n];
            let mut mine = Vec::new();
            while let Some(&i) = chosen.last()
                && i >= first
            {
                mine.push(i - first);
                chosen.pop();
            }
            if mine.is_empty() {
                continue;
            }
            self.on_node(n, |p| {
                for &j in &mine {
                    if let Some((s, e)) = p.span(j) {
                        p.replace(s, e, 1, &[]);
                    }
                }
            });
            if self.nodes[n].len() == 0 {
                self.bytes -= self.nodes[n].heap_size();
                self.nodes.remove(n);
            } else {
                self.refreeze(n);
            }
        }
        self.len -= removed;
        self.tail = None;
        self.settle();
        removed
    }

    /// Keeps elements `start..=end` only (in range, `start <= end`); false otherwise. Whole
    /// nodes outside go, the two at the edges are cut.
    pub fn trim(&mut self, start: usize, end: usize) -> bool {
        if start > end || end >= self.len {
            return false;
        }
        let (mut front, mut back) = (start, self.len - 1 - end);
        while let Some(n) = self.nodes.front()
            && n.len() <= front
        {
            front -= n.len();
            self.bytes -= n.heap_size();
            self.nodes.pop_front();
        }
        while let Some(n) = self.nodes.back()
            && n.len() <= back
        {
            back -= n.len();
            self.bytes -= n.heap_size();
            self.nodes.pop_back();
        }
        if front > 0 {
            self.on_node(0, |p| {
                if let Some((s, _)) = p.span(front) {
                    p.replace(0, s, front, &[]);
                }
            });
        }
        if back > 0 {
            let last = self.nodes.len() - 1;
            self.on_node(last, |p| {
                if let Some((s, _)) = p.span(p.len() - back) {
                    let end = p.bytes();
                    p.replace(s, end, back, &[]);
                }
            });
        }
        self.len = end - start + 1;
        self.tail = None;
        self.settle();
        true
    }

    /// A list of `items`, in order.
    pub fn from_items<T: AsRef<[u8]>>(items: impl IntoIterator<Item = T>) -> List {
        List::with_depth(super::LIMITS.list_compress()).filled(items)
    }

    fn filled<T: AsRef<[u8]>>(mut self, items: impl IntoIterator<Item = T>) -> List {
        for i in items {
            self.push_back(i.as_ref());
        }
        self
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
            assert_eq!(l.get(i).as_deref(), Some(&model[i][..]), "{i}");
        }
        assert_eq!(l.get(5000), None);
        let got: Vec<Cow<'_, [u8]>> = l.range(1000, 1100).collect();
        let want: Vec<Cow<'_, [u8]>> = model
            .range(1000..=1100)
            .map(|v| Cow::Borrowed(&v[..]))
            .collect();
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

    #[test]
    fn the_middle_of_a_long_list_is_compressed_and_the_ends_are_not() {
        let items: Vec<Vec<u8>> = (0..100_000u32)
            .map(|i| format!("element-{i:08}").into_bytes())
            .collect();
        let plain = List::with_depth(0).filled(&items);
        let mut l = List::with_depth(1).filled(&items);
        assert_eq!(plain.compressed_nodes(), 0);
        let n = l.nodes.len();
        assert!(n > 100, "{n} nodes");
        assert_eq!(l.compressed_nodes(), n - 2);
        assert!(matches!(l.nodes[0], Node::Plain(_)) && matches!(l.nodes[n - 1], Node::Plain(_)));
        assert!(
            l.heap_size() * 2 < plain.heap_size(),
            "{} vs {}",
            l.heap_size(),
            plain.heap_size()
        );
        assert!(l == plain && l.iter().eq(items.iter().map(|e| Cow::Borrowed(&e[..]))));
        assert_eq!(l.get(50_000).as_deref(), Some(&items[50_000][..]));
        let mid: Vec<Cow<'_, [u8]>> = l.range(49_990, 50_010).collect();
        assert_eq!(
            mid,
            items[49_990..=50_010]
                .iter()
                .map(|e| Cow::Borrowed(&e[..]))
                .collect::<Vec<_>>()
        );
        let mut seen = Vec::new();
        l.visit(49_990, 50_010, |e| seen.push(e.to_vec()));
        assert_eq!(seen, items[49_990..=50_010]);
        let mut all = 0;
        l.visit(0, usize::MAX, |_| all += 1);
        assert_eq!(all, items.len());
        // A write in the middle leaves its node compressed again.
        assert!(l.set(50_000, b"changed"));
        assert_eq!(l.get(50_000).as_deref(), Some(&b"changed"[..]));
        assert_eq!(l.compressed_nodes(), n - 2);
        // Popping down to the middle thaws the nodes that become ends.
        for _ in 0..60_000 {
            l.pop_back();
        }
        assert!(matches!(l.nodes.back(), Some(Node::Plain(_))));
        assert_eq!(l.pop_back().as_deref(), Some(&items[39_999][..]));
        let exact: usize = l.nodes.iter().map(Node::heap_size).sum();
        assert_eq!(l.bytes, exact);
    }

    #[test]
    fn inserts_in_the_middle_split_their_node() {
        let mut l = List::with_depth(1).filled([&b"first"[..], b"last"]);
        let mut model = vec![b"first".to_vec(), b"last".to_vec()];
        for i in 0..3000usize {
            let e = format!("{i:0100}").into_bytes();
            let at = 1 + i % (model.len() - 1);
            assert!(l.insert(at, &e));
            model.insert(at, e);
        }
        // Whatever `list-max-listpack-size` another test set, no node passes 64 KB; one
        // node holding all of it would be 300 KB.
        assert!(l.nodes.len() >= 5, "{} nodes", l.nodes.len());
        assert!(l.nodes.iter().all(|n| n.bytes() <= 65_536 + 102));
        assert!(l.iter().eq(model.iter().map(|e| Cow::Borrowed(&e[..]))));
        assert!(l.compressed_nodes() > 0);
        let exact: usize = l.nodes.iter().map(Node::heap_size).sum();
        assert_eq!(l.bytes, exact);
    }

    #[test]
    fn incompressible_nodes_stay_plain() {
        let mut rng = fastrand::Rng::with_seed(7);
        let items: Vec<Vec<u8>> = (0..5_000)
            .map(|_| (0..16).map(|_| rng.u8(..)).collect())
            .collect();
        let l = List::with_depth(1).filled(&items);
        assert!(l.nodes.len() > 5);
        assert_eq!(l.compressed_nodes(), 0);
        assert!(l.iter().eq(items.iter().map(|e| Cow::Borrowed(&e[..]))));
    }

    proptest::proptest! {
        /// Any sequence of operations leaves the list equal to a VecDeque that did the same,
        /// whatever the compression depth.
        #[test]
        fn a_list_behaves_as_a_deque(depth in 0u16..3, ops in proptest::collection::vec((0u8..9, 0usize..3000, 0usize..200), 1..400)) {
            let mut l = List::with_depth(depth);
            let mut model: VecDeque<Vec<u8>> = VecDeque::new();
            for (n, (op, size, at)) in ops.into_iter().enumerate() {
                // Runs of one byte compress: a deque of many nodes has frozen ones; few
                // distinct values, so LREM finds some.
                let e = vec![(n % 7) as u8; size % 7 * 100];
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
                    5 => {
                        let ok = l.insert(at, &e);
                        proptest::prop_assert_eq!(ok, at <= model.len());
                        if ok { model.insert(at, e); }
                    }
                    6 => {
                        let count = (size % 5) as i64 - 2;
                        let limit = if count == 0 { usize::MAX } else { count.unsigned_abs() as usize };
                        let mut hits: Vec<usize> = (0..model.len()).filter(|&i| model[i] == e).collect();
                        if count < 0 { hits.reverse(); }
                        hits.truncate(limit);
                        hits.sort_unstable();
                        for &i in hits.iter().rev() { model.remove(i); }
                        proptest::prop_assert_eq!(l.remove_matching(count, &e), hits.len());
                    }
                    7 => {
                        let (a, b) = (at, at + size % 300);
                        let ok = l.trim(a, b);
                        proptest::prop_assert_eq!(ok, b < model.len());
                        if ok { model = model.range(a..=b).cloned().collect(); }
                    }
                    _ => {
                        let got = l.get(at);
                        proptest::prop_assert_eq!(got.as_deref(), model.get(at).map(|v| &v[..]));
                    }
                }
                proptest::prop_assert_eq!(l.len(), model.len());
            }
            let all: Vec<Cow<'_, [u8]>> = l.iter().collect();
            let want: Vec<Cow<'_, [u8]>> = model.iter().map(|v| Cow::Borrowed(&v[..])).collect();
            proptest::prop_assert_eq!(all, want);
            let n = l.nodes.len();
            for (i, node) in l.nodes.iter().enumerate() {
                let end = i < depth as usize || i + (depth as usize) >= n;
                proptest::prop_assert!(!end || matches!(node, Node::Plain(_)), "node {} of {} at depth {}", i, n, depth);
            }
            let exact: usize = l.nodes.iter().map(Node::heap_size).sum();
            proptest::prop_assert_eq!(l.bytes, exact);
        }
    }
}
