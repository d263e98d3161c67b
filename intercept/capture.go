package intercept

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/valohai/conduit/ledger"
	"github.com/valohai/conduit/parsers"
)

// capture runs calls: it forwards each upstream and taps its response. One
// capture serves both modes.
type capture struct {
	transport      http.RoundTripper
	timeouts       Timeouts // resolved: every field set, Drain not nil
	admit          func(*http.Request, ledger.Record) *Refusal
	record         func(Call)
	logger         *slog.Logger
	maxRequestBody int64
	now            func() time.Time
	inflight       *inflight // calls started and not yet recorded
	onClientLeft   func()    // tests
}

// target is where a call goes and how it is recorded.
type target struct {
	provider *Provider
	mode     string   // ledger.ModeBaseURL or ledger.ModeForward
	url      *url.URL // the upstream URL, query included
	attr     Attribution
}

// errRequestTooLarge ends a request body read past the cap.
var errRequestTooLarge = errors.New("request body too large")

// roundTrip sends req to t and returns the reply for the client, whose body
// the caller must copy and Close. It never fails: an upstream that cannot be
// reached, times out or refuses, or a call that Admit refuses, becomes a
// JSON error in the provider's shape, and is recorded like any other call.
func (c *capture) roundTrip(req *http.Request, t target) *reply {
	api := t.provider.API
	ep := parsers.Classify(api, req.Method, t.url.Path)
	// Azure's bodies name no model, and its deployments are named by their
	// owner: the config says which model one serves, so the call is priced
	// even when the response names none (an error, a stream cut before its
	// first chunk). A model the response names still wins.
	if m := t.provider.Deployments[ep.Deployment]; ep.Deployment != "" && m != "" {
		ep.Model = m
	}
	cl := c.newCall(req, t, ep)

	body, preq, errResp := c.requestBody(req, cl)
	if errResp != nil {
		return errResp
	}
	cl.request = preq
	cl.rec.Model = preq.Model
	if cl.rec.Model == "" {
		cl.rec.Model = ep.Model
	}
	cl.rec.RequestModel = cl.rec.Model
	cl.rec.Stream = preq.Stream || ep.Stream
	if c.admit != nil {
		if no := c.admit(req, cl.rec.Record); no != nil {
			return cl.refused(no)
		}
	}

	// The URL is set after: given as a string, t.url would be formatted
	// and parsed again, a thirtieth of what forwarding a call costs.
	out, err := http.NewRequestWithContext(cl.ctx, req.Method, "", body.reader)
	if err != nil {
		return cl.fail(http.StatusBadRequest, typeBadRequest, fmt.Sprintf("cannot forward this request: %v", err))
	}
	u := *t.url
	out.URL = &u
	out.Header = outboundHeaders(req.Header)
	out.ContentLength = body.length
	if body.length == 0 {
		out.Body = http.NoBody
	}
	out.Host = t.url.Host
	out.Close = false

	cl.sent = c.now()
	resp, err := c.transport.RoundTrip(out)
	if err != nil {
		return cl.upstreamError(err)
	}
	if resp.StatusCode == http.StatusSwitchingProtocols && !headerHasToken(out.Header, "Connection", "upgrade") {
		// The connection now speaks something else, which the client did
		// not ask for and would wait on for good.
		resp.Body.Close()
		return cl.fail(http.StatusBadGateway, typeUnsolicitedUpgrade,
			fmt.Sprintf("conduit: provider %q (%s) answered 101 Switching Protocols to a request that asked for no upgrade", t.provider.Key, t.url.Host))
	}
	return cl.wrap(resp)
}

// requestBody decides how the request body goes upstream. The bodies of
// metered endpoints are read whole (capped) so parsers can read the model and
// stream flag, and add stream_options.include_usage where configured; every
// other body streams through, capped.
type outboundBody struct {
	reader io.Reader
	length int64 // -1: unknown
}

func (c *capture) requestBody(req *http.Request, cl *call) (outboundBody, parsers.Request, *reply) {
	var preq parsers.Request
	if req.Body == nil || req.Body == http.NoBody || (req.ContentLength == 0 && req.Method != http.MethodPost) {
		return outboundBody{length: 0}, preq, nil
	}
	if req.ContentLength > c.maxRequestBody {
		return outboundBody{}, preq, cl.tooLarge()
	}
	if !cl.endpoint.Metered() || !isJSONRequest(req) {
		cl.streamsRequestBody = true
		return outboundBody{reader: &cappedReader{r: req.Body, left: c.maxRequestBody}, length: req.ContentLength}, preq, nil
	}
	data, err := readBody(req.Body, req.ContentLength, c.maxRequestBody)
	if err != nil {
		return outboundBody{}, preq, cl.clientError(err)
	}
	if int64(len(data)) > c.maxRequestBody {
		return outboundBody{}, preq, cl.tooLarge()
	}
	preq = parsers.InspectRequest(cl.endpoint, data)
	// Only a stream not asking for usage yet is rewritten: the others are
	// known from the body's one parse, without InjectStreamUsage's second.
	if preq.Stream && !preq.IncludeUsage && cl.target.provider.InjectStreamUsage && acceptsStreamOptions(cl.target.url) {
		if injected, ok := parsers.InjectStreamUsage(cl.endpoint, data); ok {
			data = injected
			cl.injected = true
		}
	}
	return outboundBody{reader: bytes.NewReader(data), length: int64(len(data))}, preq, nil
}

// readBody reads a request body whole, at most limit+1 bytes, as
// io.ReadAll of it capped would. A body of known length is read into one
// buffer of its size: io.ReadAll starts at 512 bytes and grows by copying,
// a dozen allocations and copies for the hundreds of KB an agent's long
// conversation sends with every call.
func readBody(r io.Reader, length, limit int64) ([]byte, error) {
	if length <= 0 {
		return io.ReadAll(io.LimitReader(r, limit+1))
	}
	// A byte more than declared: the read that meets the end has room.
	buf := make([]byte, 0, length+1)
	for int64(len(buf)) <= limit {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // longer than declared
		}
		room := int(min(int64(cap(buf)-len(buf)), limit+1-int64(len(buf))))
		n, err := r.Read(buf[len(buf) : len(buf)+room])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

func isJSONRequest(req *http.Request) bool {
	ct := req.Header.Get("Content-Type")
	if ct == "" {
		return true // SDKs always set it; curl -d sends form type; treat absent as JSON
	}
	switch parsers.MediaType(ct) {
	case "application/json", "text/plain", "application/x-www-form-urlencoded":
		return true
	}
	return false
}

// cappedReader streams a request body and fails once it passes the cap.
type cappedReader struct {
	r    io.Reader
	left int64
}

func (c *cappedReader) Read(p []byte) (int, error) {
	if c.left < 0 {
		return 0, errRequestTooLarge
	}
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		return n, errRequestTooLarge
	}
	if err != nil && err != io.EOF {
		// The client's body broke (a bad chunk, a cut): the call fails
		// on the client's side, not the provider's.
		err = clientBodyError{err}
	}
	return n, err
}

// clientBodyError marks a failure to read the client's request body while
// it streams upstream.
type clientBodyError struct{ err error }

func (e clientBodyError) Error() string { return e.err.Error() }
func (e clientBodyError) Unwrap() error { return e.err }

// call is the state of one call from request to record.
type call struct {
	c        *capture
	target   target
	endpoint parsers.Endpoint
	request  parsers.Request
	injected bool // Conduit added stream_options.include_usage
	// streamsRequestBody: the client's body goes upstream as it arrives, so
	// the response may start before it has all been read.
	streamsRequestBody bool

	reqHeader       http.Header     // the client's, read only to scrub credentials from an error
	ctx             context.Context // the upstream request's: outlives the client, bounded by Total
	cancel          context.CancelFunc
	stopClientWatch func() bool

	rec   Call // the record and the in-flight extras
	start time.Time
	sent  time.Time
	reply reply // the client's answer, which roundTrip returns (part of the call: no allocation of its own)

	mu         sync.Mutex
	clientGone bool
	drainTimer *time.Timer
	finished   bool

	// Whether the client had the whole response: the tap reached the end
	// of the body and wrote nothing after the client left. A client may
	// close once it has every byte (Content-Length reached, [DONE] seen)
	// before the end of the body reaches Conduit: it cancelled nothing.
	goneFlag       atomic.Bool // clientGone, read without the lock on each write
	wroteAfterGone atomic.Bool
	reachedEOF     atomic.Bool
}

func (c *capture) newCall(req *http.Request, t target, ep parsers.Endpoint) *call {
	start := c.now()
	// The upstream request deliberately outlives the client's: when the
	// client goes away mid-stream the provider still bills the call, so the
	// tap reads on (for at most Timeouts.Drain) to record the final usage.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(req.Context()), c.timeouts.Total)
	kind := ledger.KindOther
	if ep.Metered() {
		kind = ledger.KindCall
	}
	cl := &call{
		c: c, target: t, endpoint: ep, ctx: ctx, cancel: cancel, start: start, reqHeader: req.Header,
		rec: Call{Record: ledger.Record{
			Kind:      kind,
			ID:        newID(),
			StartedAt: start.UTC(),
			Provider:  t.provider.Key,
			API:       string(t.provider.API),
			Endpoint:  ep.Kind.String(),
			Mode:      t.mode,
			Method:    req.Method,
			Host:      t.url.Host,
			Path:      redactedPath(t.url),
			Client:    req.Header.Get("User-Agent"),
			VHHeaders: vhHeaders(req.Header),
			Project:   t.attr.Project,
			Session:   t.attr.Session,
			Tags:      append(slices.Clip(t.attr.Tags), parseTags(req.Header)...),
		}},
	}
	// A project a client names per call is more specific than the one
	// `conduit run` gave the whole process.
	if p := strings.TrimSpace(req.Header.Get(projectHeader)); p != "" {
		cl.rec.Project = p
	}
	if budgetOverride(req.Header) {
		cl.rec.Tags = append(cl.rec.Tags, ledger.TagBudgetOverride)
	}
	cl.stopClientWatch = context.AfterFunc(req.Context(), cl.clientLeft)
	c.inflight.add(cl)
	return cl
}

func newID() string {
	id, err := uuid.NewV7()
	if err != nil {
		// NewV7 fails only when the system's random source does; a v4 id
		// from the same source would fail too, so say so in the id.
		return "unavailable-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	return id.String()
}

// clientLeft is called when the client goes away before the call ended. The
// upstream is read on for Timeouts.Drain so its final usage is recorded,
// then cancelled.
func (cl *call) clientLeft() {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.clientGone || cl.finished {
		return
	}
	cl.clientGone = true
	cl.goneFlag.Store(true)
	cl.drainTimer = time.AfterFunc(*cl.c.timeouts.Drain, cl.cancel)
	if cl.c.onClientLeft != nil {
		cl.c.onClientLeft()
	}
}

func (cl *call) isClientGone() bool {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.clientGone
}

// wrap turns the upstream response into the client's reply: hop-by-hop
// headers removed, the body in a tap.
func (cl *call) wrap(resp *http.Response) *reply {
	removeHopHeaders(resp.Header)
	cl.rec.Status = resp.StatusCode
	cl.rec.RequestID = firstHeader(resp.Header, "X-Request-Id", "Request-Id")
	ct := resp.Header.Get("Content-Type")
	t := newTap(cl, resp.Body, resp.Header.Get("Content-Encoding"), ct)
	cl.reply = reply{status: resp.StatusCode, header: resp.Header, length: resp.ContentLength, body: t, fullDuplex: cl.streamsRequestBody}
	if cl.injected && resp.StatusCode/100 == 2 && isEventStream(ct) {
		t.stripUsageEvent = true
		// Dropping an event changes the length.
		cl.reply.length = -1
		resp.Header.Del("Content-Length")
	}
	return &cl.reply
}

func firstHeader(h http.Header, names ...string) string {
	for _, n := range names {
		if v := h.Get(n); v != "" {
			return v
		}
	}
	return ""
}

func isEventStream(contentType string) bool {
	return parsers.MediaType(contentType) == "text/event-stream"
}

// upstreamError records a failed round trip and returns the error response
// for the client: 504 for a timeout, 413 for a body over the cap, 502 else.
func (cl *call) upstreamError(err error) *reply {
	name := cl.target.provider.Key
	var cbe clientBodyError
	switch {
	case errors.Is(err, errRequestTooLarge):
		return cl.tooLarge()
	case errors.As(err, &cbe):
		return cl.clientError(cbe.err)
	case cl.isClientGone():
		cl.rec.Outcome = ledger.OutcomeClientCancelled
		cl.rec.Error = "client went away before the upstream answered"
		return cl.errorResponse(statusClientClosed, typeClientGone, cl.rec.Error)
	case isLoop(err):
		return cl.fail(http.StatusLoopDetected, typeLoop,
			fmt.Sprintf("conduit: provider %q (%s) resolves to Conduit itself: %v", name, cl.target.url.Host, refusedDest(err)))
	case isTimeout(err):
		return cl.fail(http.StatusGatewayTimeout, typeUpstreamTimeout,
			fmt.Sprintf("conduit: provider %q (%s) did not answer in time: %v", name, cl.target.url.Host, describeNetError(err)))
	default:
		return cl.fail(http.StatusBadGateway, typeUpstreamUnreachable,
			fmt.Sprintf("conduit: could not reach provider %q at %s: %v", name, cl.target.url.Host, describeNetError(err)))
	}
}

// statusClientClosed is recorded for calls whose client left before any
// response (nginx's 499); it is never sent to anyone.
const statusClientClosed = 499

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// describeNetError strips the URL from a transport error (it is in the
// message already, and its query may hold a key).
func describeNetError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func (cl *call) tooLarge() *reply {
	return cl.fail(http.StatusRequestEntityTooLarge, typeRequestTooLarge,
		fmt.Sprintf("conduit: request body over the %d MiB limit", cl.c.maxRequestBody>>20))
}

func (cl *call) clientError(err error) *reply {
	cl.rec.Outcome = ledger.OutcomeClientCancelled
	cl.rec.Error = "reading the request body: " + err.Error()
	return cl.errorResponse(http.StatusBadRequest, typeBadRequest, cl.rec.Error)
}

// fail records an upstream_error outcome and returns its error response.
func (cl *call) fail(status int, typ, msg string) *reply {
	cl.rec.Outcome = ledger.OutcomeUpstreamError
	cl.rec.Error = msg
	return cl.errorResponse(status, typ, msg)
}

// errorResponse finishes the call with a Conduit-made reply.
func (cl *call) errorResponse(status int, typ, msg string) *reply {
	body := errorBody(cl.target.provider.API, status, typ, msg, nil)
	cl.rec.Status = status
	cl.finish(parsers.Result{}, true, nil)
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Conduit-Error", typ)
	cl.reply = reply{status: status, header: h, length: int64(len(body)), body: fixedBody{bytes.NewReader(body)}}
	return &cl.reply
}

// finish completes the record from what the meter read and hands it on.
// It runs once per call.
func (cl *call) finish(res parsers.Result, eof bool, readErr error) {
	cl.mu.Lock()
	if cl.finished {
		cl.mu.Unlock()
		return
	}
	cl.finished = true
	// A client that left once it had every byte, before the provider's
	// end of body came (and before a drain had to cut it), cancelled nothing.
	delivered := cl.reachedEOF.Load() && !cl.wroteAfterGone.Load() && cl.ctx.Err() == nil
	gone := cl.clientGone && !delivered
	if cl.drainTimer != nil {
		cl.drainTimer.Stop()
	}
	cl.mu.Unlock()
	cl.stopClientWatch()
	cl.cancel()

	end := cl.c.now()
	rec := &cl.rec
	rec.FinishedAt = end.UTC()
	rec.Duration = end.Sub(cl.start)
	if !cl.sent.IsZero() {
		rec.UpstreamTime = end.Sub(cl.sent)
	}
	applyResult(&rec.Record, res)
	if rec.Outcome == "" && readErr != nil && !gone && isTimeout(readErr) {
		// The headers went out long ago; only the total timeout ends a
		// body read this way. The provider failed to deliver in time.
		rec.Outcome = ledger.OutcomeUpstreamError
		rec.Error = fmt.Sprintf("conduit: provider %q (%s) did not finish the response within the total timeout (%s)",
			cl.target.provider.Key, cl.target.url.Host, cl.c.timeouts.Total)
	}
	if rec.Outcome == "" {
		var msg string
		rec.Outcome, msg = outcome(rec.Status, cl.endpoint, res, eof, readErr, gone)
		if rec.Error == "" {
			rec.Error = msg
		}
	}
	if readErr != nil && rec.Error == "" && !gone {
		rec.Error = "reading the upstream response: " + describeNetError(readErr).Error()
	}
	rec.Error = scrubSecrets(rec.Error, cl.reqHeader, cl.target.url.RawQuery)
	// Bounded before anyone keeps it: the ledger's queue, telemetry's spans
	// and the log line all hold at most the capped fields.
	rec.Sanitize()
	cl.c.log(&rec.Record)
	if cl.c.record != nil {
		cl.c.record(*rec)
	}
	cl.c.inflight.done(cl)
}

func applyResult(rec *ledger.Record, res parsers.Result) {
	if res.Model != "" {
		rec.Model = res.Model
	}
	rec.ResponseID = res.ResponseID
	if res.Invalid != "" {
		// Counts no real call can have: keep what the provider sent, and
		// no usage, so nothing prices or sums them (outcome says why).
		rec.UsageRaw = res.Raw
		return
	}
	if !res.Seen {
		return
	}
	rec.HasUsage = true
	rec.InputTokens = res.InputTokens
	rec.CachedInputTokens = res.CachedInputTokens
	rec.CacheWriteTokens = res.CacheWriteTokens
	rec.CacheWrite5mTokens = res.CacheWrite5mTokens
	rec.CacheWrite1hTokens = res.CacheWrite1hTokens
	rec.OutputTokens = res.OutputTokens
	rec.ReasoningTokens = res.ReasoningTokens
	rec.ProviderCostUSD = res.ProviderCostUSD
	rec.UsageRaw = res.Raw
	rec.Detail = usageDetail(res.Usage)
}

// usageDetail returns the splits of u that pricing needs beyond the main
// counts, nil when u has none.
func usageDetail(u parsers.Usage) *ledger.UsageDetail {
	if u.AudioInputTokens == 0 && u.AudioOutputTokens == 0 && u.ImageInputTokens == 0 && u.ImageOutputTokens == 0 &&
		len(u.Iterations) == 0 {
		return nil
	}
	d := &ledger.UsageDetail{
		AudioInputTokens: u.AudioInputTokens, AudioOutputTokens: u.AudioOutputTokens,
		ImageInputTokens: u.ImageInputTokens, ImageOutputTokens: u.ImageOutputTokens,
	}
	for _, it := range u.Iterations {
		// The two types hold the same fields: a change to either fails here.
		d.Iterations = append(d.Iterations, ledger.Iteration(it))
	}
	return d
}

// outcome says how a call that Conduit did not fail itself ended, from its
// status and what the meter read, with the provider's error message when
// it sent one.
func outcome(status int, ep parsers.Endpoint, res parsers.Result, eof bool, readErr error, clientGone bool) (string, string) {
	switch {
	case status >= 400, res.Failed:
		return ledger.OutcomeUpstreamError, res.ErrorMessage
	case res.Invalid != "":
		// Before the cut and cancel cases: it says why the call has no
		// counts, which matters more than how it ended.
		return ledger.OutcomeInvalidUsage, "invalid usage: " + res.Invalid
	case clientGone:
		return ledger.OutcomeClientCancelled, ""
	case readErr != nil || !eof:
		return ledger.OutcomeIncomplete, ""
	case ep.Metered() && !res.Terminal:
		return ledger.OutcomeIncomplete, ""
	case !res.Seen:
		return ledger.OutcomeNoUsage, ""
	}
	return ledger.OutcomeComplete, ""
}

// callLogPC is the program counter of the call line's source: the same for
// every call, so it is looked up once rather than per call (runtime.Callers
// was an eighth of what the line cost Logger.LogAttrs).
var callLogPC atomic.Uintptr

// log writes the per-call line. It hands the record to the handler itself,
// as Logger.LogAttrs would, with the attributes on the stack: LogAttrs took
// them as a slice that escaped and grew, two allocations per call.
func (c *capture) log(rec *ledger.Record) {
	level := slog.LevelInfo
	if rec.Outcome == ledger.OutcomeUpstreamError && rec.Status >= 500 {
		level = slog.LevelWarn
	}
	ctx := context.Background()
	h := c.logger.Handler()
	if !h.Enabled(ctx, level) {
		return
	}
	pc := callLogPC.Load()
	if pc == 0 {
		var pcs [1]uintptr
		runtime.Callers(1, pcs[:])
		pc = pcs[0]
		callLogPC.Store(pc)
	}
	var attrs [10]slog.Attr
	a := append(attrs[:0],
		slog.String("method", rec.Method),
		slog.String("provider", rec.Provider),
		slog.String("path", rec.Path),
		slog.Int("status", rec.Status),
		slog.Duration("duration", rec.Duration.Round(time.Microsecond)),
		slog.String("outcome", rec.Outcome),
	)
	if rec.Model != "" {
		a = append(a, slog.String("model", rec.Model))
	}
	if rec.HasUsage {
		a = append(a, slog.Int64("input_tokens", rec.InputTokens), slog.Int64("output_tokens", rec.OutputTokens))
	}
	if rec.Error != "" {
		a = append(a, slog.String("error", rec.Error))
	}
	r := slog.NewRecord(time.Now(), level, "call", pc)
	r.AddAttrs(a...)
	_ = h.Handle(ctx, r) // as LogAttrs: a handler's error has nowhere to go
}
