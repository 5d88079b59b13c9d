package redisstate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cache is the second level of the backends' response cache, shared by
// every replica (it satisfies upstream.SharedCache). Entries are kept under
// the SHA-256 of the client's key and the write generation of the path
// they read; a write moves the path to a new generation in Redis (so no
// replica finds the old entries, which expire by their TTL) and publishes
// the path, so that every replica drops its own in-process entries of it
// (Subscribe). While Redis is down it holds nothing and keeps nothing: each
// replica has its in-process cache only.
//
// Generations are counted per slot of a hash of (backend, path), as the
// in-process cache does: paths sharing a slot are invalidated together,
// which costs a miss, never a stale answer, and bounds the counters.
type Cache struct {
	c       *Client
	gens    string // the hash of slot → generation
	channel string // where invalidations are published
}

// cacheSlots is the number of generation counters.
const cacheSlots = 1 << 12

// Cache returns the shared response cache.
func (c *Client) Cache() *Cache {
	return &Cache{c: c, gens: c.prefix + "cache:gen", channel: c.prefix + "cache:invalidate"}
}

// lookup reads the path's generation and the entry under it in one round
// trip. The entry key is built from the generation inside the script, so
// both are read atomically.
var lookup = redis.NewScript(`
local g = redis.call('HGET', KEYS[1], ARGV[1]) or '0'
local v = redis.call('GET', ARGV[2] .. g)
return {g, v}
`)

func slot(backend, path string) string {
	h := fnv.New64a()
	h.Write([]byte(backend))
	h.Write([]byte{0})
	h.Write([]byte(path))
	return strconv.FormatUint(h.Sum64()%cacheSlots, 10)
}

func (s *Cache) entryPrefix(key string) string {
	sum := sha256.Sum256([]byte(key))
	return s.c.prefix + "cache:e:" + hex.EncodeToString(sum[:]) + ":"
}

// Get returns the value under key at path's current generation (nil when
// none) and that generation.
func (s *Cache) Get(ctx context.Context, backend, path, key string) ([]byte, uint64, error) {
	if !s.c.Up() {
		s.c.m.fallbacks.WithLabelValues("cache").Inc()
		return nil, 0, ErrDown
	}
	cctx, cancel := s.c.ctx(ctx)
	defer cancel()
	start := time.Now()
	res, err := lookup.Run(cctx, s.c.rdb, []string{s.gens}, slot(backend, path), s.entryPrefix(key)).Slice()
	s.c.done("cache_get", start, ctx, err)
	if err != nil {
		s.c.m.fallbacks.WithLabelValues("cache").Inc()
		return nil, 0, err
	}
	if len(res) == 0 {
		return nil, 0, errors.New("redisstate: cache lookup answered nothing")
	}
	gs, _ := res[0].(string)
	gen, err := strconv.ParseUint(gs, 10, 64)
	if err != nil {
		return nil, 0, errors.New("redisstate: cache generation is not a number")
	}
	var v string
	if len(res) >= 2 {
		v, _ = res[1].(string) // nil (false in Lua) when there is none
	}
	if v == "" {
		s.c.m.cache.WithLabelValues("miss").Inc()
		return nil, gen, nil
	}
	s.c.m.cache.WithLabelValues("hit").Inc()
	return []byte(v), gen, nil
}

// Set stores value under key at generation gen of path for ttl.
func (s *Cache) Set(ctx context.Context, backend, path, key string, gen uint64, value []byte, ttl time.Duration) error {
	if !s.c.Up() {
		return ErrDown
	}
	if ttl <= 0 {
		return nil
	}
	cctx, cancel := s.c.ctx(ctx)
	defer cancel()
	start := time.Now()
	err := s.c.rdb.Set(cctx, s.entryPrefix(key)+strconv.FormatUint(gen, 10), value, ttl).Err()
	s.c.done("cache_set", start, ctx, err)
	return err
}

// Invalidate moves path to a new generation and tells every replica.
// Unlike a lookup it is tried while Redis is marked down: a write's
// invalidation is worth a round trip.
func (s *Cache) Invalidate(ctx context.Context, backend, path string) error {
	cctx, cancel := s.c.ctx(ctx)
	defer cancel()
	start := time.Now()
	_, err := s.c.rdb.TxPipelined(cctx, func(p redis.Pipeliner) error {
		p.HIncrBy(cctx, s.gens, slot(backend, path), 1)
		p.Publish(cctx, s.channel, backend+"\x00"+path)
		return nil
	})
	s.c.done("cache_invalidate", start, ctx, err)
	return err
}

// Subscribe calls drop(backend, path) for every path any replica (this one
// included) invalidates, until the client is closed. The subscription
// reconnects by itself after Redis returns; invalidations published while
// a replica was cut off are not seen by it (its entries then live out
// their TTL).
func (s *Cache) Subscribe(drop func(backend, path string)) {
	ps := s.c.rdb.Subscribe(context.Background(), s.channel)
	s.c.stopped.Add(1)
	go func() {
		defer s.c.stopped.Done()
		ch := ps.Channel()
		for {
			select {
			case <-s.c.stop:
				_ = ps.Close()
				return
			case m, ok := <-ch:
				if !ok {
					return
				}
				if backend, path, ok := strings.Cut(m.Payload, "\x00"); ok {
					drop(backend, path)
				}
			}
		}
	}()
}
