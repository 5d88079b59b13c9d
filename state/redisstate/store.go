package redisstate

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// Store keeps short-lived values under random ids in one key space, each
// with its TTL: the dev issuer's launches and authorization codes (Spend:
// single use across replicas), the viewer's sessions (Get) and pending
// launches (Take). Ids are hashed into keys (Client.key). It satisfies
// issuer.SharedStore and viewer.SharedStore. Unlike the in-memory stores it
// has no count bound: Redis' maxmemory is the bound.
type Store struct {
	c     *Client
	space string
}

// Store returns the store of key space (e.g. "issuer:code").
func (c *Client) Store(space string) *Store { return &Store{c: c, space: space} }

// spend returns the value and leaves the empty string in its place with
// the key's TTL (KEEPTTL), atomically: the first caller gets the value,
// every later one, on any replica, finds it spent until it expires.
var spend = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then return false end
if v ~= '' then redis.call('SET', KEYS[1], '', 'KEEPTTL') end
return v
`)

// Put stores value under id for ttl. An empty value is refused: it is the
// mark of a spent one.
func (s *Store) Put(ctx context.Context, id string, value []byte, ttl time.Duration) error {
	if len(value) == 0 {
		return errors.New("redisstate: empty value")
	}
	if ttl <= 0 {
		return errors.New("redisstate: no TTL")
	}
	return s.do(ctx, "put", func(ctx context.Context) error {
		return s.c.rdb.Set(ctx, s.c.key(s.space, id), value, ttl).Err()
	})
}

// Get returns the value under id, or nil when there is none (never put,
// taken, deleted or expired).
func (s *Store) Get(ctx context.Context, id string) ([]byte, error) {
	var v []byte
	err := s.do(ctx, "get", func(ctx context.Context) (err error) {
		v, err = s.c.rdb.Get(ctx, s.c.key(s.space, id)).Bytes()
		return err
	})
	if errors.Is(err, redis.Nil) || len(v) == 0 {
		return nil, nilUnlessOther(err)
	}
	return v, err
}

// Take returns the value under id and removes it (GETDEL): single use, nil
// when there is none.
func (s *Store) Take(ctx context.Context, id string) ([]byte, error) {
	var v []byte
	err := s.do(ctx, "take", func(ctx context.Context) (err error) {
		v, err = s.c.rdb.GetDel(ctx, s.c.key(s.space, id)).Bytes()
		return err
	})
	if errors.Is(err, redis.Nil) || len(v) == 0 {
		return nil, nilUnlessOther(err)
	}
	return v, err
}

// Spend returns the value under id the first time it is asked for, on any
// replica; after that spent is true (and value nil) until the id's TTL
// ends, so a second use can be told from an unknown id. value is nil and
// spent false for an id never put or expired.
func (s *Store) Spend(ctx context.Context, id string) (value []byte, spent bool, err error) {
	err = s.do(ctx, "spend", func(ctx context.Context) (err error) {
		var str string
		str, err = spend.Run(ctx, s.c.rdb, []string{s.c.key(s.space, id)}).Text()
		value = []byte(str)
		return err
	})
	switch {
	case errors.Is(err, redis.Nil):
		return nil, false, nil
	case err != nil:
		return nil, false, err
	case len(value) == 0:
		return nil, true, nil
	}
	return value, false, nil
}

// Delete removes id's value, if any.
func (s *Store) Delete(ctx context.Context, id string) error {
	return s.do(ctx, "delete", func(ctx context.Context) error {
		return s.c.rdb.Del(ctx, s.c.key(s.space, id)).Err()
	})
}

// do runs one command within the client's timeout, timed and judged.
func (s *Store) do(ctx context.Context, op string, f func(context.Context) error) error {
	cctx, cancel := s.c.ctx(ctx)
	defer cancel()
	start := time.Now()
	err := f(cctx)
	s.c.done("store_"+op, start, ctx, err)
	return err
}

func nilUnlessOther(err error) error {
	if errors.Is(err, redis.Nil) {
		return nil
	}
	return err
}

// Replay records token ids (jti) until their token expires, shared by
// every replica: a token is accepted once. It satisfies the CDS Hooks
// replay cache's interface (Claim).
type Replay struct {
	c     *Client
	space string
}

// Replay returns the replay records of key space (e.g. "jti:cds").
func (c *Client) Replay(space string) *Replay { return &Replay{c: c, space: space} }

// Claim records key until expires (SET NX PX) and reports whether it was
// new. An error means Redis cannot say: the caller refuses the token.
func (r *Replay) Claim(ctx context.Context, key string, expires time.Time) (fresh bool, err error) {
	ttl := time.Until(expires)
	if ttl <= 0 {
		return false, nil // an expired token is never fresh
	}
	cctx, cancel := r.c.ctx(ctx)
	defer cancel()
	start := time.Now()
	fresh, err = r.c.rdb.SetNX(cctx, r.c.key(r.space, key), "1", ttl).Result()
	r.c.done("replay_claim", start, ctx, err)
	return fresh, err
}
