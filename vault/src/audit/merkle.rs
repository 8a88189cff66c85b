//! RFC 9162 Merkle trees: leaf and node hashes, the frontier of a growing log, proofs,
//! and their verification.
//!
//! Leaves hash as `SHA-256(0x00 || data)`, inner nodes as `SHA-256(0x01 || left || right)`
//! (domain separation, so a leaf can never pass for a node). A tree of `n` leaves splits at
//! the largest power of two below `n` (RFC 9162 §2.1.1).
//!
//! The store keeps every *perfect* subtree hash, addressed as `(level, index)`: the hash
//! of leaves `[index * 2^level, (index + 1) * 2^level)`. Every hash a proof needs is a
//! right-fold of a few perfect subtrees, so proof generation is planned here as
//! coordinates ([`inclusion_plan`], [`consistency_plan`]), the caller fetches those nodes,
//! and [`assemble`] folds them. Generation and verification stay pure and testable.

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// A node coordinate: `(level, index)` of a perfect subtree.
pub type Node = (u8, u64);

/// Why a proof does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    /// The proof's shape does not fit the sizes (wrong length, index out of range).
    #[error("the proof does not fit the tree sizes: {0}")]
    Shape(&'static str),
    /// The proof computes another root than the one expected.
    #[error("the proof leads to another root hash")]
    RootMismatch,
}

use crate::crypto::sha256_of_parts as sha256;

/// The hash of a leaf.
pub fn leaf_hash(data: &[u8]) -> Hash {
    sha256(&[&[0u8], data])
}

/// The hash of an inner node.
pub fn node_hash(left: &[u8], right: &[u8]) -> Hash {
    sha256(&[&[1u8], left, right])
}

/// The root of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Hash {
    sha256(&[])
}

/// The perfect subtrees that make up leaves `[lo, hi)`, left to right, for a range that
/// RFC 9162's recursion produces (its start aligned to its largest subtree).
pub fn range_nodes(lo: u64, hi: u64) -> Vec<Node> {
    let mut nodes = Vec::new();
    let mut at = lo;
    while at < hi {
        let remaining = hi - at;
        let level = 63 - remaining.leading_zeros() as u8; // largest power of two that fits
        let mut level = level;
        while !at.is_multiple_of(1u64 << level) {
            level -= 1;
        }
        nodes.push((level, at >> level));
        at += 1u64 << level;
    }
    nodes
}

/// Folds perfect subtree hashes (left to right) into the RFC 9162 hash of their range.
pub fn fold(hashes: &[Hash]) -> Option<Hash> {
    let (last, rest) = hashes.split_last()?;
    Some(
        rest.iter()
            .rev()
            .fold(*last, |acc, left| node_hash(left, &acc)),
    )
}

/// The largest power of two strictly below `n` (n >= 2).
fn split(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The plan of an inclusion proof for leaf `index` in a tree of `size` (RFC 9162
/// §2.1.3.1, PATH): each proof element is the fold of the listed subtrees.
pub fn inclusion_plan(index: u64, size: u64) -> Vec<Vec<Node>> {
    fn path(m: u64, lo: u64, hi: u64, out: &mut Vec<Vec<Node>>) {
        let n = hi - lo;
        if n <= 1 {
            return;
        }
        let k = split(n);
        if m < k {
            path(m, lo, lo + k, out);
            out.push(range_nodes(lo + k, hi));
        } else {
            path(m - k, lo + k, hi, out);
            out.push(range_nodes(lo, lo + k));
        }
    }
    let mut out = Vec::new();
    if index < size {
        path(index, 0, size, &mut out);
    }
    out
}

/// The plan of a consistency proof between sizes `m` and `n` (RFC 9162 §2.1.4.1).
pub fn consistency_plan(m: u64, n: u64) -> Vec<Vec<Node>> {
    fn subproof(m: u64, lo: u64, hi: u64, whole: bool, out: &mut Vec<Vec<Node>>) {
        let n = hi - lo;
        if m == n {
            if !whole {
                out.push(range_nodes(lo, hi));
            }
            return;
        }
        let k = split(n);
        if m <= k {
            subproof(m, lo, lo + k, whole, out);
            out.push(range_nodes(lo + k, hi));
        } else {
            subproof(m - k, lo + k, hi, false, out);
            out.push(range_nodes(lo, lo + k));
        }
    }
    let mut out = Vec::new();
    if 0 < m && m < n {
        subproof(m, 0, n, true, &mut out);
    }
    out
}

/// Every node a plan needs, without duplicates.
pub fn plan_nodes(plan: &[Vec<Node>]) -> Vec<Node> {
    let mut nodes: Vec<Node> = plan.iter().flatten().copied().collect();
    nodes.sort_unstable();
    nodes.dedup();
    nodes
}

/// Builds the proof from a plan and the hashes of its nodes.
pub fn assemble(plan: &[Vec<Node>], hash_of: impl Fn(Node) -> Option<Hash>) -> Option<Vec<Hash>> {
    plan.iter()
        .map(|element| {
            let hashes: Option<Vec<Hash>> = element.iter().map(|n| hash_of(*n)).collect();
            fold(&hashes?)
        })
        .collect()
}

/// The frontier of a log: the perfect subtrees that make up all its leaves, largest
/// first. It is all a log needs to append and to know its root.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// `(level, hash)`, levels strictly decreasing.
    subtrees: Vec<(u8, Hash)>,
}

impl Frontier {
    /// The frontier of a log of `size` leaves, from the hashes of its perfect subtrees
    /// (as [`frontier_nodes`] lists them).
    pub fn from_nodes(size: u64, hashes: &[Hash]) -> Option<Frontier> {
        let nodes = frontier_nodes(size);
        if nodes.len() != hashes.len() {
            return None;
        }
        Some(Frontier {
            size,
            subtrees: nodes
                .iter()
                .map(|(level, _)| *level)
                .zip(hashes.iter().copied())
                .collect(),
        })
    }

    /// How many leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash, keeping only the frontier (what a verifier needs).
    pub fn append(&mut self, leaf: Hash) {
        self.add(0, leaf, |_, _, _| {});
    }

    /// Appends the root of a perfect subtree of `2^level` leaves, computed elsewhere (a
    /// verifier's other thread), if the log's size is a multiple of that; else changes
    /// nothing and says no.
    pub fn append_subtree(&mut self, level: u8, root: Hash) -> bool {
        if level >= 64 || !self.size.is_multiple_of(1 << level) {
            return false;
        }
        self.add(level, root, |_, _, _| {});
        true
    }

    /// Appends a leaf hash; returns every node it completes, the leaf itself first.
    pub fn push(&mut self, leaf: Hash) -> Vec<(u8, u64, Hash)> {
        let mut completed = Vec::with_capacity(4);
        self.add(0, leaf, |level, index, hash| {
            completed.push((level, index, hash))
        });
        completed
    }

    /// Appends a perfect subtree of `2^level` leaves (a leaf at level 0), the size being a
    /// multiple of it, and shows `completed` each node that completes (level, index at
    /// that level, hash), the subtree itself first.
    fn add(&mut self, level: u8, subtree: Hash, mut completed: impl FnMut(u8, u64, Hash)) {
        completed(level, self.size >> level, subtree);
        let (mut at, mut hash) = (level, subtree);
        while let Some(&(top, left)) = self.subtrees.last() {
            if top != at {
                break;
            }
            self.subtrees.pop();
            hash = node_hash(&left, &hash);
            at += 1;
            completed(at, self.size >> at, hash);
        }
        self.subtrees.push((at, hash));
        self.size += 1 << level;
    }

    /// The RFC 9162 root of the log.
    pub fn root(&self) -> Hash {
        let hashes: Vec<Hash> = self.subtrees.iter().map(|(_, h)| *h).collect();
        fold(&hashes).unwrap_or_else(empty_root)
    }
}

/// The perfect subtrees making up `[0, size)`, largest first.
pub fn frontier_nodes(size: u64) -> Vec<Node> {
    range_nodes(0, size)
}

/// Verifies an inclusion proof (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &[u8],
    proof: &[Vec<u8>],
    root: &[u8],
) -> Result<(), MerkleError> {
    if index >= size {
        return Err(MerkleError::Shape(
            "the leaf index is not below the tree size",
        ));
    }
    if leaf.len() != 32 {
        return Err(MerkleError::Shape("the leaf hash is not a SHA-256 hash"));
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = leaf.to_vec();
    for p in proof {
        if sn == 0 {
            return Err(MerkleError::Shape("the proof is too long"));
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r).to_vec();
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p).to_vec();
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(MerkleError::Shape("the proof is too short"));
    }
    if r != root {
        return Err(MerkleError::RootMismatch);
    }
    Ok(())
}

/// Verifies a consistency proof between a tree of `size1` with `root1` and a tree of
/// `size2` with `root2` (RFC 9162 §2.1.4.2). An empty first tree proves nothing and is
/// refused; equal sizes need an empty proof and equal roots.
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    proof: &[Vec<u8>],
    root1: &[u8],
    root2: &[u8],
) -> Result<(), MerkleError> {
    if size2 < size1 {
        return Err(MerkleError::Shape(
            "the second tree is smaller than the first",
        ));
    }
    if size1 == 0 {
        return Err(MerkleError::Shape(
            "a consistency proof from the empty tree proves nothing",
        ));
    }
    if size1 == size2 {
        if !proof.is_empty() {
            return Err(MerkleError::Shape("equal sizes take an empty proof"));
        }
        return if root1 == root2 {
            Ok(())
        } else {
            Err(MerkleError::RootMismatch)
        };
    }
    if proof.is_empty() {
        return Err(MerkleError::Shape("the proof is empty"));
    }
    let mut path: Vec<&[u8]> = proof.iter().map(Vec::as_slice).collect();
    if size1.is_power_of_two() {
        path.insert(0, root1);
    }
    let (mut fn_, mut sn) = (size1 - 1, size2 - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let mut fr = path[0].to_vec();
    let mut sr = path[0].to_vec();
    for c in &path[1..] {
        if sn == 0 {
            return Err(MerkleError::Shape("the proof is too long"));
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr).to_vec();
            sr = node_hash(c, &sr).to_vec();
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c).to_vec();
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(MerkleError::Shape("the proof is too short"));
    }
    if fr != root1 || sr != root2 {
        return Err(MerkleError::RootMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// The RFC 9162 definition, literally, for comparison.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    fn build(n: u64) -> (Vec<Hash>, HashMap<Node, Hash>, Vec<Hash>) {
        let mut frontier = Frontier::default();
        let mut nodes = HashMap::new();
        let mut leaves = Vec::new();
        let mut roots = vec![frontier.root()];
        for i in 0..n {
            let leaf = leaf_hash(&i.to_be_bytes());
            leaves.push(leaf);
            for (level, index, hash) in frontier.push(leaf) {
                nodes.insert((level, index), hash);
            }
            roots.push(frontier.root());
        }
        (leaves, nodes, roots)
    }

    #[test]
    fn frontier_roots_equal_the_definition() {
        let (leaves, nodes, roots) = build(70);
        for n in 0..=70usize {
            assert_eq!(roots[n], mth(&leaves[..n]), "size {n}");
            let hashes: Vec<Hash> = frontier_nodes(n as u64).iter().map(|c| nodes[c]).collect();
            assert_eq!(
                Frontier::from_nodes(n as u64, &hashes).unwrap().root(),
                roots[n]
            );
        }
    }

    #[test]
    fn generated_proofs_verify_and_tampered_ones_do_not() {
        let (leaves, nodes, roots) = build(40);
        let lookup = |n: Node| nodes.get(&n).copied();
        for size in 1..=40u64 {
            for index in 0..size {
                let proof: Vec<Vec<u8>> = assemble(&inclusion_plan(index, size), lookup)
                    .unwrap()
                    .iter()
                    .map(|h| h.to_vec())
                    .collect();
                let leaf = leaves[index as usize];
                verify_inclusion(index, size, &leaf, &proof, &roots[size as usize]).unwrap();
                if let Some(first) = proof.first() {
                    let mut bad = proof.clone();
                    bad[0][0] ^= 1;
                    assert!(
                        verify_inclusion(index, size, &leaf, &bad, &roots[size as usize]).is_err()
                    );
                    assert!(
                        verify_inclusion(index, size, &leaf, &proof[1..], &roots[size as usize])
                            .is_err()
                    );
                    let mut longer = proof.clone();
                    longer.push(first.clone());
                    assert!(
                        verify_inclusion(index, size, &leaf, &longer, &roots[size as usize])
                            .is_err()
                    );
                }
            }
            for m in 1..=size {
                let proof: Vec<Vec<u8>> = assemble(&consistency_plan(m, size), lookup)
                    .unwrap()
                    .iter()
                    .map(|h| h.to_vec())
                    .collect();
                verify_consistency(m, size, &proof, &roots[m as usize], &roots[size as usize])
                    .unwrap();
                if m < size {
                    let wrong_old = roots[(m - 1) as usize];
                    assert!(
                        verify_consistency(m, size, &proof, &wrong_old, &roots[size as usize])
                            .is_err()
                    );
                }
            }
        }
    }
}
