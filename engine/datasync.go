package engine

// Datasyncer is a File that can make its data durable without the rest of
// its metadata, as fdatasync(2) does. Datasync uses it when a File has
// it; a File without it is synced whole (File.Sync), which is never less
// durable.
type Datasyncer interface {
	// Datasync has the semantics of the function Datasync.
	Datasync() error
}

// Datasync makes the data of f durable, and the metadata needed to read it
// back — the size, and the blocks allocated to it — but not metadata such
// as the modification time (fdatasync): a cheaper Sync for a file whose
// other metadata does not matter. Like Sync, it does not make the file's
// name durable (that takes SyncDir of its directory), and an error from
// it is fatal for the data written since the last successful sync: Linux
// drops the dirty pages, and a retried Datasync reports success.
//
// The error is an *fs.PathError with Op "fdatasync", or "sync" from a File
// that is no Datasyncer.
func Datasync(f File) error {
	if d, ok := f.(Datasyncer); ok {
		return d.Datasync()
	}
	return f.Sync()
}
