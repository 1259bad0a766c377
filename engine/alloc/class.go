package alloc

// Size classes of small blocks: four per doubling from 16 bytes, so that
// rounding a request up wastes at most a fifth of it; above MaxSmall a
// request takes whole pages.
var classSizes = [...]int64{
	16, 32, 48, 64, 80, 96, 112, 128,
	160, 192, 224, 256, 320, 384, 448, 512,
	640, 768, 896, 1024, 1280, 1536, 1792, 2048,
}

// MaxSmall is the largest request served from a run.
const MaxSmall = 2048

const numClasses = len(classSizes)

// runGeometry is where the blocks of a class's runs are.
type runGeometry struct {
	size    int64 // bytes per block
	pages   int64 // pages per run
	nblocks int   // blocks per run
	words   int   // bitmap words
	data    int64 // offset of block 0 from the run's start
}

var geometries = func() (g [numClasses]runGeometry) {
	for c, size := range classSizes {
		pages := int64(4)
		if size > 256 {
			pages = 16
		}
		align := int64(16)
		if size%64 == 0 {
			align = 64
		}
		runBytes := pages * PageSize
		n := int((runBytes - runHeaderSize) / size)
		for ; n > 0; n-- {
			words := (n + 63) / 64
			data := roundUp(runHeaderSize+int64(words)*8, align)
			if data+int64(n)*size <= runBytes {
				g[c] = runGeometry{size: size, pages: pages, nblocks: n, words: words, data: data}
				break
			}
		}
	}
	return g
}()

// classOf returns the smallest class whose blocks hold size bytes; size
// must be in (0, MaxSmall].
func classOf(size int64) int {
	lo, hi := 0, numClasses-1
	for lo < hi {
		mid := (lo + hi) / 2
		if classSizes[mid] >= size {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}
