package main

import "time"

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
	//lab:begin lab3 2
	at := l.tail
	for at != nil && at.expire.After(t.expire) {
		at = at.prev
	}
	l.insertAfter(t, at)
	//lab:else
	// todo.Missing("lab3", "insert a timer in expiry order")
	//lab:end
}

// insertAfter links t after at (at == nil: at the head) and counts it.
func (l *timerList) insertAfter(t, at *timer) {
	//outline:begin lab3 2.5
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
	//outline:else
	// // TODO(lab3): link t after at (at == nil: at the head), fixing head and tail, and count it
	// // (l.n).
	// todo.Missing("lab3", "link a timer into the list")
	//outline:end
}

// remove unlinks t and counts it out.
func (l *timerList) remove(t *timer) {
	//outline:begin lab3 3.5
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
	//outline:else
	// // TODO(lab3): unlink t, fixing head and tail, and count it out (l.n).
	// todo.Missing("lab3", "unlink a timer")
	//outline:end
}

// adjust sets t's expiry to a later time and moves it back to its place.
func (l *timerList) adjust(t *timer, expire time.Time) {
	// TODO(lab3): set t's later expiry and move it back to its place in the list (l.remove
	// and l.insertAfter keep the count).
	//lab:begin lab3 3
	t.expire = expire
	if t.next == nil || !t.next.expire.Before(expire) {
		return // still in order
	}
	at := t.next
	l.remove(t)
	for at.next != nil && !at.next.expire.After(expire) {
		at = at.next
	}
	l.insertAfter(t, at)
	//lab:else
	// todo.Missing("lab3", "move a timer back to its place")
	//lab:end
}

// expire removes the timers that expire at or before now and returns them,
// earliest first.
func (l *timerList) expire(now time.Time) []*timer {
	// TODO(lab3): remove and return the timers at the head that expire at or before now.
	//lab:begin lab3 6
	var out []*timer
	for l.head != nil && !l.head.expire.After(now) {
		t := l.head
		l.remove(t)
		out = append(out, t)
	}
	return out
	//lab:else
	// todo.Missing("lab3", "take the expired timers off the head")
	// return nil
	//lab:end
}

// len is the number of timers in the list.
func (l *timerList) len() int { return l.n }
