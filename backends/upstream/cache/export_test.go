package cache

// Slot is the generation slot of (backend, path); GenSlots how many there are.
func Slot(backend, path string) uint64 { return (*Cache)(nil).slot(backend, path) }

const GenSlots = genSlots
