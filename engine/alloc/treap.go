package alloc

// treap is an ordered set of uint64 keys with O(log n) expected insert,
// delete and ceiling: the best-fit index of free large blocks, keyed by
// (size, address) packed into one word (see freeKey), so that the ceiling
// of (n, 0) is the smallest block of at least n pages at the lowest
// address. Nodes live in one slice and refer to each other by index, so
// the index costs the garbage collector nothing to scan.
type treap struct {
	nodes []treapNode
	root  int32
	free  int32 // head of the list of unused nodes, linked by left
	n     int
	seed  uint32
}

type treapNode struct {
	key         uint64
	prio        uint32
	left, right int32
}

const nilNode = -1

func newTreap() treap { return treap{root: nilNode, free: nilNode, seed: 0x9e3779b9} }

func (t *treap) Len() int { return t.n }

func (t *treap) rand() uint32 {
	// xorshift32: the shape of a treap needs no better randomness.
	x := t.seed
	x ^= x << 13
	x ^= x >> 17
	x ^= x << 5
	t.seed = x
	return x
}

func (t *treap) newNode(key uint64) int32 {
	nd := treapNode{key: key, prio: t.rand(), left: nilNode, right: nilNode}
	if t.free != nilNode {
		i := t.free
		t.free = t.nodes[i].left
		t.nodes[i] = nd
		return i
	}
	t.nodes = append(t.nodes, nd)
	return int32(len(t.nodes) - 1)
}

// split splits the subtree at i into keys < key and keys >= key.
func (t *treap) split(i int32, key uint64) (lo, hi int32) {
	if i == nilNode {
		return nilNode, nilNode
	}
	if t.nodes[i].key < key {
		l, r := t.split(t.nodes[i].right, key)
		t.nodes[i].right = l
		return i, r
	}
	l, r := t.split(t.nodes[i].left, key)
	t.nodes[i].left = r
	return l, i
}

// merge joins two subtrees whose keys are all in order, a before b.
func (t *treap) merge(a, b int32) int32 {
	if a == nilNode {
		return b
	}
	if b == nilNode {
		return a
	}
	if t.nodes[a].prio > t.nodes[b].prio {
		t.nodes[a].right = t.merge(t.nodes[a].right, b)
		return a
	}
	t.nodes[b].left = t.merge(a, t.nodes[b].left)
	return b
}

// Insert adds key; it reports false if key was already there.
func (t *treap) Insert(key uint64) bool {
	if t.Has(key) {
		return false
	}
	lo, hi := t.split(t.root, key)
	t.root = t.merge(t.merge(lo, t.newNode(key)), hi)
	t.n++
	return true
}

// Delete removes key; it reports false if key was not there.
func (t *treap) Delete(key uint64) bool {
	parent, i := int32(nilNode), t.root
	for i != nilNode && t.nodes[i].key != key {
		parent = i
		if key < t.nodes[i].key {
			i = t.nodes[i].left
		} else {
			i = t.nodes[i].right
		}
	}
	if i == nilNode {
		return false
	}
	m := t.merge(t.nodes[i].left, t.nodes[i].right)
	switch {
	case parent == nilNode:
		t.root = m
	case t.nodes[parent].left == i:
		t.nodes[parent].left = m
	default:
		t.nodes[parent].right = m
	}
	t.nodes[i] = treapNode{left: t.free}
	t.free = i
	t.n--
	return true
}

// Has reports whether key is in the set.
func (t *treap) Has(key uint64) bool {
	for i := t.root; i != nilNode; {
		switch k := t.nodes[i].key; {
		case key == k:
			return true
		case key < k:
			i = t.nodes[i].left
		default:
			i = t.nodes[i].right
		}
	}
	return false
}

// Ceiling returns the smallest key >= key.
func (t *treap) Ceiling(key uint64) (uint64, bool) {
	best, ok := uint64(0), false
	for i := t.root; i != nilNode; {
		if k := t.nodes[i].key; k >= key {
			best, ok = k, true
			i = t.nodes[i].left
		} else {
			i = t.nodes[i].right
		}
	}
	return best, ok
}

// Max returns the largest key.
func (t *treap) Max() (uint64, bool) {
	i := t.root
	if i == nilNode {
		return 0, false
	}
	for t.nodes[i].right != nilNode {
		i = t.nodes[i].right
	}
	return t.nodes[i].key, true
}

// Ascend calls f for every key in increasing order until f returns false.
func (t *treap) Ascend(f func(uint64) bool) {
	var walk func(i int32) bool
	walk = func(i int32) bool {
		if i == nilNode {
			return true
		}
		return walk(t.nodes[i].left) && f(t.nodes[i].key) && walk(t.nodes[i].right)
	}
	walk(t.root)
}
