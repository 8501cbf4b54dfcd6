package main

import (
	"encoding/binary"
	"fmt"
	"os"

	"chatlab/solutions/protocol"

	"golang.org/x/sys/unix"
)

// The shared memory object is an array of slots, grouped in rings of
// ringSlots: one ring for each client connected at once, plus spares, so a
// new client never has to wait for a departed one's ring to drain.
//
//	slot: sender id u32 | length u16 | pad u16 | up to MaxMessage bytes
const (
	slotSize   = 1024
	slotHeader = 8
	ringSlots  = 16
	spareRings = 16
)

// shm is a mapping of the server's shared memory object.
type shm struct {
	name string // the path under /dev/shm, for unlinking
	mem  []byte
}

// createShm creates the object /dev/shm/NAME for rings rings, exclusively
// (O_CREAT|O_EXCL: never someone else's), sizes it and maps it. It returns
// the mapping and the object's fd, to hand to children.
//
// shm_open(3) is open(2) on /dev/shm, which is how glibc implements it; Go
// without cgo has no shm_open, so the server opens the path itself.
func createShm(name string, rings int) (*shm, *os.File, error) {
	// TODO(lab3): create the shared memory object /dev/shm/NAME: unix.Open with
	// O_CREAT|O_EXCL|O_RDWR|O_CLOEXEC (the shm_open of C), unix.Ftruncate to
	// rings*ringSlots*slotSize bytes, then mapShm. On any error, unlink it again.
	// Return the mapping (with its name set) and the fd as an *os.File for children.
	//lab:begin lab3 1
	path := "/dev/shm/" + name
	fd, err := unix.Open(path, unix.O_CREAT|unix.O_EXCL|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("shm_open %s: %w", path, err)
	}
	size := rings * ringSlots * slotSize
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		unix.Close(fd)
		unix.Unlink(path)
		return nil, nil, fmt.Errorf("ftruncate %s: %w", path, err)
	}
	s, err := mapShm(fd, size)
	if err != nil {
		unix.Close(fd)
		unix.Unlink(path)
		return nil, nil, err
	}
	s.name = path
	return s, os.NewFile(uintptr(fd), path), nil
	//lab:else
	// todo.Missing("lab3", "create and map the shared memory object")
	// return nil, nil, nil
	//lab:end
}

// mapShm maps size bytes of the object open on fd, shared.
func mapShm(fd, size int) (*shm, error) {
	mem, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap: %w", err)
	}
	return &shm{mem: mem}, nil
}

// unlink removes the object's name; mappings stay valid until unmapped.
func (s *shm) unlink() error {
	if s.name == "" {
		return nil
	}
	err := unix.Unlink(s.name)
	s.name = ""
	return err
}

func (s *shm) slot(i int) []byte { return s.mem[i*slotSize : (i+1)*slotSize] }

// put writes one message from sender into slot i.
func (s *shm) put(i, sender int, msg []byte) {
	//outline:begin lab3 2.7
	b := s.slot(i)
	binary.LittleEndian.PutUint32(b[0:], uint32(sender))
	binary.LittleEndian.PutUint16(b[4:], uint16(len(msg)))
	copy(b[slotHeader:], msg)
	//outline:else
	// // TODO(lab3): write sender and msg into slot i as the slot layout above says (the length,
	// // the sender, the bytes).
	// todo.Missing("lab3", "write a message into a slot")
	//outline:end
}

// get returns the sender and the message in slot i; the message aliases the
// shared memory, so it must be copied before the slot is acknowledged.
func (s *shm) get(i int) (sender int, msg []byte) {
	//outline:begin lab3 5.1
	b := s.slot(i)
	n := min(int(binary.LittleEndian.Uint16(b[4:])), protocol.MaxMessage)
	return int(binary.LittleEndian.Uint32(b[0:])), b[slotHeader : slotHeader+n]
	//outline:else
	// // TODO(lab3): read the sender and the message of slot i, as put wrote them (msg may alias
	// // the mapping: copy it before the slot is freed).
	// todo.Missing("lab3", "read a message from a slot")
	// return 0, nil
	//outline:end
}
