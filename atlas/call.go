package atlas

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/spec"
)

// get performs one GET with rate limiting and retries and passes the answer to decode.
func (c *Client) get(ctx context.Context, op spec.Operation, sc scope, u *url.URL, decode func([]byte) error) error {
	bucket := c.limits.get(op.Set, sc.ProjectID, c.now())
	defer c.limits.done(bucket)
	var last *Error
	reauthed := false
	retryOf := ""
	for attempt := 1; ; attempt++ {
		sl, err := c.admit(ctx, bucket)
		if err != nil {
			if last != nil {
				return last
			}
			return sc.fail(op, u.EscapedPath(), 0, err)
		}
		retryAfter, reason, apiErr := c.once(withAttempt(ctx, attempt, retryOf), sl, bucket, op, sc, u, decode)
		if apiErr == nil {
			return nil
		}
		last, retryOf = apiErr, reason
		if reason == "token_rejected" {
			if reauthed {
				return apiErr
			}
			reauthed = true
			c.obs.ObserveRetry(op.Name, reason)
			attempt-- // not a failure of Atlas's: it does not count against the attempts
			continue
		}
		if reason == "" || attempt >= c.retry.MaxAttempts || ctx.Err() != nil {
			return apiErr
		}
		d := c.retry.BaseDelay << (attempt - 1)
		if d > c.retry.MaxDelay || d <= 0 {
			d = c.retry.MaxDelay
		}
		d = c.jitter(d)
		if retryAfter > d {
			d = retryAfter
		}
		if dl, ok := ctx.Deadline(); ok && c.now().Add(d).After(dl) {
			// Waiting would outlive the caller: give up now with what Atlas said.
			return apiErr
		}
		c.obs.ObserveRetry(op.Name, reason)
		if err := c.sleep(ctx, d); err != nil {
			return apiErr
		}
	}
}

// once sends one request to b on the slot sl admit took, gives the slot back once the exchange
// is over, and passes a successful answer to decode. On failure it returns the error with the
// retry reason ("" when the error must not be retried) and any Retry-After delay.
func (c *Client) once(ctx context.Context, sl *slot, b *bucket, op spec.Operation, sc scope, u *url.URL, decode func([]byte) error) (time.Duration, string, *Error) {
	fail := func(status int, err error) *Error { return sc.fail(op, u.EscapedPath(), status, err) }
	// unanswered: a request of this exchange (its digest challenge or token request too) is
	// on the wire with no answer yet.
	var unanswered atomic.Bool
	trace := &httptrace.ClientTrace{
		WroteHeaders:         func() { unanswered.Store(true) },
		GotFirstResponseByte: func() { unanswered.Store(false) },
	}
	// The timeout starts once the slot is taken: it measures Atlas, not the queue.
	rctx, cancel := context.WithTimeout(httptrace.WithClientTrace(withOperation(ctx, op.Name), trace), c.timeout)
	defer cancel()
	held := true
	defer func() {
		if held {
			c.freeSlot(sl, unanswered.Load() && rctx.Err() != nil && ctx.Err() == nil, false)
		}
	}()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, "", fail(0, err)
	}
	req.Header.Set("Accept", op.Accept())
	req.Header.Set("User-Agent", c.ua)
	resp, err := c.http.Do(req)
	if err != nil {
		err = redactURLError(err)
		switch {
		case ctx.Err() != nil:
			return 0, "", fail(0, ctx.Err())
		case errors.Is(err, ErrToken):
			return 0, "", fail(0, err)
		case errors.Is(err, context.DeadlineExceeded):
			return 0, "timeout", fail(0, fmt.Errorf("request timed out after %s", c.timeout))
		case isTLSConfigError(err):
			// A certificate Atlas's host does not prove will not prove itself on a retry.
			return 0, "", fail(0, err)
		}
		return 0, "network", fail(0, err)
	}
	// The body's reservation is held until it is decoded, since both copies live until then.
	body, release, readErr := c.bodies.read(rctx, resp.Body, resp.ContentLength)
	defer release()
	_ = resp.Body.Close()
	var wait time.Duration
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		wait = retryAfter(resp.Header, c.now())
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		// Atlas's bucket for this endpoint set is empty: hold back every call that would draw
		// from it, not just this one, before this slot lets another call out.
		b.pause(ctx, c.now().Add(max(wait, c.retry.BaseDelay)))
	}
	held = false
	c.freeSlot(sl, false, true)
	if errors.Is(readErr, errBodyTooBig) {
		return 0, "", fail(resp.StatusCode, fmt.Errorf("response body exceeds %d bytes", c.maxBody))
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if readErr != nil {
			if ctx.Err() != nil {
				return 0, "", fail(0, ctx.Err())
			}
			// A body cut off mid-stream is a network fault worth another try.
			return 0, "network", fail(resp.StatusCode, fmt.Errorf("reading response: %v", redactURLError(readErr)))
		}
		if err := decode(body); err != nil {
			if errors.Is(err, errTooManyItems) {
				return 0, "", fail(resp.StatusCode, fmt.Errorf("more than %d items in one listing; stopped reading it", c.maxItems))
			}
			return 0, "", fail(resp.StatusCode, fmt.Errorf("decoding response: %v", err))
		}
		return 0, "", nil
	}
	e := fail(resp.StatusCode, nil)
	decodeErrorBody(e, body)
	switch {
	case resp.StatusCode == http.StatusUnauthorized && c.auth.reauthenticate():
		// The token was revoked, or expired early by Atlas's clock: one more try with a new one.
		return 0, "token_rejected", e
	case resp.StatusCode == http.StatusTooManyRequests:
		return wait, "rate_limited", e
	case resp.StatusCode >= 500:
		return wait, "server_error", e
	}
	return 0, "", e
}

// freeSlot gives back the slot of an exchange that is over; answered says Atlas answered it.
// One whose request Atlas had not answered within the timeout keeps the slot for one more
// timeout: Atlas does not say when it stops working on a request, the timeout is the longest an
// Atlas request is expected to take, and a slot given back at once would let the retry pile
// onto the one Atlas is still serving. So a slower Atlas slows the exporter down instead of
// being sent more, and the hold is bounded: a request Atlas never answers cannot keep a slot
// for good; and where the bound is divided between credential sets, the set is probed (Slots).
// A request cut short because its caller gave up (the refresh reached refresh_timeout, the
// exporter stops) gives its slot back at once: nothing more is sent for that refresh, and the
// next one is minutes away.
func (c *Client) freeSlot(sl *slot, abandoned, answered bool) {
	if abandoned {
		sl.releaseAfter(c.timeout)
		return
	}
	sl.release(answered)
}

func isTLSConfigError(err error) bool {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	var rh tls.RecordHeaderError
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) || errors.As(err, &rh)
}

// decodeErrorBody fills e from an Atlas ApiError body; any other body leaves e as it is.
func decodeErrorBody(e *Error, body []byte) {
	var we wireError
	if json.Unmarshal(body, &we) != nil || we.ErrorCode == "" {
		return
	}
	e.ErrorCode, e.Detail, e.Reason = truncate(we.ErrorCode, 100), we.Detail, we.Reason
	for _, p := range we.Parameters {
		e.Parameters = append(e.Parameters, strings.Trim(string(p), `"`))
	}
}

// redactURLError drops the URL from a *url.Error: the message stays useful and can never carry
// more than the path, which the caller names itself.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// fullJitter spreads a backoff over [d/2, d] so that many clients do not retry in step.
func fullJitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}
