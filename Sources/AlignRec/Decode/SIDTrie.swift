// The prefix trie of every valid Semantic ID as token ids, flattened for decoding hot loops: node n's
// allowed next tokens are edgeTokens[edgeStart[n] ..< edgeStart[n+1]] (sorted, contiguous), their nodes
// edgeNodes[...]; a leaf is a terminal holding its item. No dictionaries are touched while decoding.
// Also owns per-prompt exclusions (e.g. history items), compiled to sorted node lists per group.
import Foundation

/// Immutable flattened trie over SID token sequences. Every SID ends in a leaf: SIDs may have different
/// lengths, but none may be a proper prefix of another unless `endToken` is given, which is then appended to
/// every SID (the model must emit it to finish an item).
public final class SIDTrie: @unchecked Sendable {
    /// Number of nodes (root = 0).
    public let nodeCount: Int
    /// Number of items (terminals).
    public let itemCount: Int
    /// Longest SID in tokens (including `endToken`): the most decoding steps a search takes.
    public let maxDepth: Int
    /// The token appended to every SID, if any.
    public let endToken: Int32?
    /// Edges of node n: edgeStart[n] ..< edgeStart[n + 1]; nodeCount + 1 entries.
    public let edgeStart: UnsafeMutableBufferPointer<Int32>
    /// Token of each edge, sorted ascending within a node.
    public let edgeTokens: UnsafeMutableBufferPointer<Int32>
    /// Child node of each edge.
    public let edgeNodes: UnsafeMutableBufferPointer<Int32>
    /// Item at a leaf, 0 elsewhere.
    public let nodeItem: UnsafeMutableBufferPointer<Int32>
    /// Items in the subtree of each node.
    public let subtreeItems: UnsafeMutableBufferPointer<Int32>
    /// Parent of each node (root: −1).
    public let nodeParent: UnsafeMutableBufferPointer<Int32>
    /// Largest number of edges out of any node.
    public let maxFanout: Int
    private let itemLeaf: [Int: Int32]
    private let itemPath: [Int: [Int32]]

    /// Builds the trie. Errors: empty list, empty SID, negative token, an item listed twice, two items
    /// with the same SID, or (without `endToken`) a SID that is a prefix of another.
    public init(sids: [(item: Int, tokens: [Int32])], endToken: Int32? = nil) throws {
        guard !sids.isEmpty else { throw AlignError.invalidArgument("SID trie: no items") }
        // Temporary pointer tree; flattened breadth-first below.
        var children: [[Int32: Int]] = [[:]]
        var leafItem: [Int] = [0]
        var paths: [Int: [Int32]] = [:]
        for (item, raw) in sids {
            guard item > 0 else { throw AlignError.invalidArgument("SID trie: item index \(item) must be ≥ 1") }
            guard !raw.isEmpty else { throw AlignError.invalidArgument("SID trie: item \(item) has an empty SID") }
            guard paths[item] == nil else { throw AlignError.invalidArgument("SID trie: item \(item) listed twice") }
            if let bad = raw.first(where: { $0 < 0 }) {
                throw AlignError.invalidArgument("SID trie: item \(item) has negative token id \(bad)")
            }
            let path = endToken.map { raw + [$0] } ?? raw
            paths[item] = path
            var node = 0
            for (d, tok) in path.enumerated() {
                if leafItem[node] != 0 {
                    throw AlignError.invalidArgument("SID trie: the SID of item \(leafItem[node]) is a prefix of item \(item)'s; de-duplicate with an extra level or build the trie with an end token")
                }
                if let c = children[node][tok] {
                    node = c
                } else {
                    children.append([:]); leafItem.append(0)
                    children[node][tok] = children.count - 1
                    node = children.count - 1
                }
                if d == path.count - 1 {
                    if leafItem[node] != 0 {
                        throw AlignError.invalidArgument("SID trie: items \(leafItem[node]) and \(item) have the same SID \(raw)")
                    }
                    if !children[node].isEmpty {
                        throw AlignError.invalidArgument("SID trie: the SID of item \(item) is a prefix of another item's; de-duplicate with an extra level or build the trie with an end token")
                    }
                    leafItem[node] = item
                }
            }
        }
        let n = children.count
        nodeCount = n; itemCount = sids.count; self.endToken = endToken
        maxDepth = paths.values.map(\.count).max() ?? 0
        edgeStart = .allocate(capacity: n + 1)
        edgeTokens = .allocate(capacity: max(1, n - 1))
        edgeNodes = .allocate(capacity: max(1, n - 1))
        nodeItem = .allocate(capacity: n)
        subtreeItems = .allocate(capacity: n)
        nodeParent = .allocate(capacity: n)
        // BFS renumbering: new id in visit order; edges of each node written contiguously, tokens sorted.
        var newId = [Int](repeating: -1, count: n)
        var queue = [0]; queue.reserveCapacity(n)
        newId[0] = 0
        nodeParent[0] = -1
        var head = 0, edge = 0, fan = 0
        while head < queue.count {
            let old = queue[head]; let me = newId[old]
            edgeStart[me] = Int32(edge)
            nodeItem[me] = Int32(leafItem[old])
            let kids = children[old].sorted { $0.key < $1.key }
            fan = max(fan, kids.count)
            for (tok, c) in kids {
                newId[c] = queue.count
                queue.append(c)
                edgeTokens[edge] = tok
                edgeNodes[edge] = Int32(newId[c])
                nodeParent[newId[c]] = Int32(me)
                edge += 1
            }
            head += 1
        }
        edgeStart[n] = Int32(edge)
        maxFanout = fan
        // Subtree counts, leaves upward (BFS order reversed visits children before parents).
        for i in 0..<n { subtreeItems[i] = nodeItem[i] > 0 ? 1 : 0 }
        for i in stride(from: n - 1, to: 0, by: -1) { subtreeItems[Int(nodeParent[i])] += subtreeItems[i] }
        var leaf: [Int: Int32] = [:]
        for i in 0..<n where nodeItem[i] > 0 { leaf[Int(nodeItem[i])] = Int32(i) }
        itemLeaf = leaf
        itemPath = paths
    }

    /// Builds the trie from SID strings with the tokenizer the model was trained with (the same encode
    /// as training responses, so the trie matches what the model learned to emit).
    public convenience init(sids: [Int: String], tokenizer: some TokenizerProtocol, endToken: Int32? = nil) throws {
        var list: [(item: Int, tokens: [Int32])] = []
        for (item, s) in sids.sorted(by: { $0.key < $1.key }) { list.append((item, try tokenizer.encode(s))) }
        try self.init(sids: list, endToken: endToken)
    }

    deinit {
        edgeStart.deallocate(); edgeTokens.deallocate(); edgeNodes.deallocate()
        nodeItem.deallocate(); subtreeItems.deallocate(); nodeParent.deallocate()
    }

    /// Allowed next tokens at a node (sorted).
    public func allowedTokens(_ node: Int) -> [Int32] {
        Array(edgeTokens[Int(edgeStart[node])..<Int(edgeStart[node + 1])])
    }

    /// Child reached from `node` by `token`, or nil (binary search; for checks, not hot loops).
    public func child(_ node: Int, _ token: Int32) -> Int? {
        var lo = Int(edgeStart[node]), hi = Int(edgeStart[node + 1])
        while lo < hi {
            let mid = (lo + hi) / 2
            if edgeTokens[mid] < token { lo = mid + 1 } else { hi = mid }
        }
        return lo < Int(edgeStart[node + 1]) && edgeTokens[lo] == token ? Int(edgeNodes[lo]) : nil
    }

    /// The item whose full token path is `tokens` (nil if not a complete valid SID).
    public func item(forTokens tokens: [Int32]) -> Int? {
        var node = 0
        for t in tokens { guard let c = child(node, t) else { return nil }; node = c }
        return nodeItem[node] > 0 ? Int(nodeItem[node]) : nil
    }

    /// Item at a terminal node (nil when the node is not a leaf).
    public func item(at node: Int) -> Int? { nodeItem[node] > 0 ? Int(nodeItem[node]) : nil }

    /// Token path of an item (with `endToken` when set), nil for an unknown item.
    public func tokens(of item: Int) -> [Int32]? { itemPath[item] }

    /// Leaf node of an item.
    public func leaf(of item: Int) -> Int? { itemLeaf[item].map(Int.init) }

    /// Every item index, ascending.
    public var items: [Int] { itemPath.keys.sorted() }
}

/// Per-group excluded items compiled for the hot loop: for each group, the nodes on excluded items' paths
/// (sorted) with the number of items left in their subtrees. A child whose count is 0 is disallowed;
/// a node not in the list is untouched (one binary search per beam, per-child lookups only when touched).
struct TrieExclusions {
    private(set) var nodes: [Int32] = []
    private(set) var remaining: [Int32] = []
    private(set) var groupStart: [Int] = [0]
    private var scratch: [Int32: Int32] = [:]

    /// Compiles `exclude[g]` for `groups` groups (nil = nothing excluded). Unknown items are an error.
    mutating func reset(trie: SIDTrie, exclude: [[Int]]?, groups: Int) throws {
        nodes.removeAll(keepingCapacity: true); remaining.removeAll(keepingCapacity: true)
        groupStart.removeAll(keepingCapacity: true); groupStart.append(0)
        if let exclude, exclude.count != groups {
            throw AlignError.invalidArgument("exclusions given for \(exclude.count) prompts, expected \(groups)")
        }
        for g in 0..<groups {
            scratch.removeAll(keepingCapacity: true)
            for item in Set(exclude?[g] ?? []) {
                guard var node = trie.leaf(of: item) else {
                    throw AlignError.invalidArgument("cannot exclude item \(item): it is not in the SID trie")
                }
                while node >= 0 {
                    scratch[Int32(node), default: 0] += 1
                    node = Int(trie.nodeParent[node])
                }
            }
            for (node, n) in scratch.sorted(by: { $0.key < $1.key }) {
                nodes.append(node)
                remaining.append(trie.subtreeItems[Int(node)] - n)
            }
            groupStart.append(nodes.count)
        }
    }

    /// Items left under `node` for group g, or −1 when the node is untouched (all its items allowed).
    @inline(__always)
    func remaining(group g: Int, node: Int32) -> Int32 {
        var lo = groupStart[g], hi = groupStart[g + 1]
        while lo < hi {
            let mid = (lo + hi) >> 1
            if nodes[mid] < node { lo = mid + 1 } else { hi = mid }
        }
        return lo < groupStart[g + 1] && nodes[lo] == node ? remaining[lo] : -1
    }

    /// Whether group g excludes anything.
    @inline(__always) func isEmpty(group g: Int) -> Bool { groupStart[g] == groupStart[g + 1] }
}
