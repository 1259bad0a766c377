package mount

// SetFusermountDir sets where fusermount3 is looked for when PATH has
// none, and returns the previous place.
func SetFusermountDir(dir string) string {
	old := fusermountDir
	fusermountDir = dir
	return old
}
