// labs/shmserver/timers.go (guided scaffolding)
//
// Yours to write here, each where its TODO comment is:
//   - add (lab 3, task 2 of 7): insert a timer in expiry order
//   - adjust (lab 3, task 3 of 7): move a timer back to its place
//   - expire (lab 3, task 6 of 7): take the expired timers off the head
//
// Given, to read and call, not to change: insertAfter, remove, len.
//
// `make grade` says which task is next. Until you write it, a task's todo.Missing
// call stops the program with its TODO line on stderr. Add the imports your code
// needs; once the last todo.Missing of this file is gone, delete the import of
// chatlab/labs/todo too (Go refuses an unused import; goimports does both).

package main

import (
	"time"

	"chatlab/labs/todo"
)

// timer is one client's inactivity timer: a node of timerList.
type timer struct {
	expire     time.Time
	id         int // the client it belongs to
	prev, next *timer
}

// timerList is the textbook lst_timer: the timers of all clients in a doubly
// linked list sorted by expiry time, earliest first. A tick only has to look
// at the head; adding is linear, adjusting moves a timer towards the tail
// (expiry only ever grows), removing is constant time.
type timerList struct {
	head, tail *timer
	n          int
}

// add inserts t in expiry order (after timers that expire at the same time).
func (l *timerList) add(t *timer) {
	// TODO(lab3): insert t so the list stays sorted by expiry: find the
	// timer to put it after, then l.insertAfter (which counts it).
	todo.Missing("lab3", "insert a timer in expiry order")
}

// insertAfter links t after at (at == nil: at the head) and counts it.
func (l *timerList) insertAfter(t, at *timer) {
	t.prev = at
	if at == nil {
		t.next = l.head
		l.head = t
	} else {
		t.next = at.next
		at.next = t
	}
	if t.next != nil {
		t.next.prev = t
	} else {
		l.tail = t
	}
	l.n++
}

// remove unlinks t and counts it out.
func (l *timerList) remove(t *timer) {
	if t.prev != nil {
		t.prev.next = t.next
	} else {
		l.head = t.next
	}
	if t.next != nil {
		t.next.prev = t.prev
	} else {
		l.tail = t.prev
	}
	t.prev, t.next = nil, nil
	l.n--
}

// adjust sets t's expiry to a later time and moves it back to its place.
func (l *timerList) adjust(t *timer, expire time.Time) {
	// TODO(lab3): set t's later expiry and move it back to its place in the list (l.remove
	// and l.insertAfter keep the count).
	todo.Missing("lab3", "move a timer back to its place")
}

// expire removes the timers that expire at or before now and returns them,
// earliest first.
func (l *timerList) expire(now time.Time) []*timer {
	// TODO(lab3): remove and return the timers at the head that expire at or before now.
	todo.Missing("lab3", "take the expired timers off the head")
	return nil
}

// len is the number of timers in the list.
func (l *timerList) len() int { return l.n }
