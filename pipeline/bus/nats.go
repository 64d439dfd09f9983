package bus

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	neturl "net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The nats bus keeps each topic in a JetStream stream of its own, named
// after StreamPrefix and the topic, on the subject "PREFIX.TOPIC". Every
// crmhub process of a consumer group pulls from one durable consumer named
// after the group, so each message goes to one of them and the group's
// position survives restarts of the processes and of the server. Messages
// are in the wire format of watermill-nats (payload as data, UUID and
// metadata as headers), so its tools can read and write them.
//
// It talks to JetStream through nats.go's jetstream package rather than
// through watermill-nats' Publisher and Subscriber (v2.1.3): its jetstream
// subscriber panics with "send on closed channel" when a subscription's
// context is cancelled while messages are buffered (Drain hands them to a
// callback that sends on the output channel just closed, see
// TestNATSCancelledSubscriptionHandsPrefetchedMessagesBack), its nats one
// uses the legacy push-consumer API and acks a message its callback gave
// up on unless ManualAck is set, and both publishers wait for the server
// after every message.

// natsConfig is the tuning of the nats bus. openNATS uses
// defaultNATSConfig; tests shorten its timeouts through newNATS.
type natsConfig struct {
	// AckWait is how long the server waits for a message's ack before it
	// delivers the message again, to this process or another: what bounds
	// the delay before a crashed process's messages are picked up.
	AckWait time.Duration
	// InFlight caps the messages one subscription has handed to handlers
	// and not yet seen acked or nacked. The router runs every message it
	// reads in a goroutine of its own, so this is the back-pressure.
	InFlight int
	// Prefetch is how many messages a subscription asks the server for
	// ahead of its handlers. They are delivered as far as the server is
	// concerned, so each must be handled and acked within AckWait.
	Prefetch int
	// MaxAckPending caps, on the server, the messages of a consumer group
	// delivered and not yet acked, all processes together.
	MaxAckPending int
	// CloseGrace is how long Close lets handlers finish the messages they
	// hold (and publish what they produce) before it cancels the messages'
	// contexts and hands the messages back.
	CloseGrace time.Duration
	// PublishWindow is how many messages a publisher sends before it waits
	// for the server to confirm they are stored.
	PublishWindow int
	// PublishTimeout bounds the wait for one such confirmation.
	PublishTimeout time.Duration
	// APITimeout bounds JetStream API calls (creating streams and
	// consumers).
	APITimeout time.Duration
	// MaxAge is how long a stream created by crmhub keeps a message. One
	// not handled by then (consumers down that long) is dropped; `crmhub
	// rebuild` re-derives everything from the raw landing table.
	MaxAge time.Duration
	// RetryInterval is how long a subscription waits before it tries again
	// to reach a consumer it lost (deleted, or the server gone).
	RetryInterval time.Duration
}

func defaultNATSConfig() natsConfig {
	return natsConfig{
		AckWait:        30 * time.Second,
		InFlight:       64,
		Prefetch:       128,
		MaxAckPending:  4096,
		CloseGrace:     10 * time.Second,
		PublishWindow:  1024,
		PublishTimeout: 10 * time.Second,
		APITimeout:     10 * time.Second,
		MaxAge:         7 * 24 * time.Hour,
		RetryInterval:  time.Second,
	}
}

var errNATSBusClosed = errors.New("nats bus is closed")

// natsBus is the NATS JetStream bus. It has two connections: one for
// publishing (messages out, their confirmations in) and one for the
// subscriptions (pulled messages in, acks out). The server and the client
// each read a connection on one goroutine; on one connection both flows
// would queue behind each other there, on two they are read in parallel.
type natsBus struct {
	cfg      natsConfig
	prefix   string
	group    string
	pub, sub natsConn
	log      watermill.LoggerAdapter

	// topics caches the streams and consumers already ensured:
	// topic → *natsTopic. topicsMu serializes creating them.
	topics   sync.Map
	topicsMu sync.Mutex

	// stopPulls is cancelled when Close starts: subscriptions stop taking
	// messages. stopMsgs is cancelled when the grace period is over:
	// messages still held are handed back.
	stopPulls, stopMsgs     context.Context
	cancelPulls, cancelMsgs context.CancelFunc
	subMu                   sync.RWMutex // Subscribe vs Close
	closing                 bool
	subs                    sync.WaitGroup
	pubMu                   sync.RWMutex // Publish vs Close
	pubClosed               bool
	closeOnce               sync.Once
	closeErr                error
}

// natsConn is a connection and its JetStream context.
type natsConn struct {
	nc *nats.Conn
	js jetstream.JetStream
}

// natsTopic is a topic whose stream and consumer exist.
type natsTopic struct {
	subject  string
	stream   string
	consumer jetstream.Consumer
}

var (
	_ PubSub                       = (*natsBus)(nil)
	_ message.SubscribeInitializer = (*natsBus)(nil)
)

func openNATS(ctx context.Context, opts Options) (PubSub, error) {
	return newNATS(ctx, opts, defaultNATSConfig())
}

func newNATS(ctx context.Context, opts Options, cfg natsConfig) (*natsBus, error) {
	if opts.Logger == nil {
		opts.Logger = watermill.NopLogger{}
	}
	if opts.NATSURL == "" {
		return nil, errors.New("open nats bus: no server URL: set the bus's NATS URL, e.g. nats://127.0.0.1:4222")
	}
	if err := natsCheckSubject(opts.StreamPrefix); err != nil {
		return nil, fmt.Errorf("open nats bus: stream prefix %q: %w", opts.StreamPrefix, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open nats bus: %w", err)
	}
	log := opts.Logger.With(watermill.LogFields{"bus": DriverNATS})
	b := &natsBus{cfg: cfg, prefix: opts.StreamPrefix, group: opts.ConsumerGroup, log: log}
	b.stopPulls, b.cancelPulls = context.WithCancel(context.Background())
	b.stopMsgs, b.cancelMsgs = context.WithCancel(context.Background())

	var err error
	if b.sub, err = natsConnect(ctx, opts.NATSURL, "crmhub-sub", cfg, log); err != nil {
		return nil, fmt.Errorf("open nats bus: %w", err)
	}
	if b.pub, err = natsConnect(ctx, opts.NATSURL, "crmhub-pub", cfg, log); err != nil {
		b.sub.nc.Close()
		return nil, fmt.Errorf("open nats bus: %w", err)
	}
	return b, nil
}

func natsConnect(ctx context.Context, url, name string, cfg natsConfig, log watermill.LoggerAdapter) (natsConn, error) {
	log = log.With(watermill.LogFields{"connection": name})
	nc, err := nats.Connect(url,
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Info("Disconnected from NATS, reconnecting", watermill.LogFields{"err": err.Error()})
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("Reconnected to NATS", watermill.LogFields{"server_id": nc.ConnectedServerId()})
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			log.Error("NATS connection error", err, nil)
		}),
	)
	if err != nil {
		if _, ok := errors.AsType[*neturl.Error](err); ok {
			// A URL parse error quotes the URL, password included.
			err = errors.New("invalid server URL (details withheld: they may contain credentials)")
		}
		return natsConn{}, fmt.Errorf("connect: %w", err)
	}
	js, err := jetstream.New(nc,
		jetstream.WithDefaultTimeout(cfg.APITimeout),
		jetstream.WithPublishAsyncTimeout(cfg.PublishTimeout),
		jetstream.WithPublishAsyncMaxPending(4*cfg.PublishWindow),
	)
	if err != nil {
		nc.Close()
		return natsConn{}, fmt.Errorf("jetstream: %w", err)
	}
	actx, cancel := context.WithTimeout(ctx, cfg.APITimeout)
	defer cancel()
	if _, err := js.AccountInfo(actx); err != nil {
		nc.Close()
		if errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
			return natsConn{}, errors.New("JetStream is not enabled on the server: start nats-server with -js")
		}
		return natsConn{}, fmt.Errorf("query JetStream account: %w", err)
	}
	return natsConn{nc: nc, js: js}, nil
}

// close flushes what the connection has buffered (acks are
// fire-and-forget: make sure the server has them) and closes it.
func (c natsConn) close(timeout time.Duration) error {
	err := c.nc.FlushTimeout(timeout)
	c.nc.Close()
	if err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		return err
	}
	return nil
}

// Publish stores the messages in the topic's stream and returns once the
// server has confirmed every one of them. Messages are sent without
// waiting for each confirmation, PublishWindow at a time. On an error some
// of the messages may be stored: publishing again can duplicate them,
// which consumers tolerate (delivery is at least once anyway).
func (b *natsBus) Publish(topic string, msgs ...*message.Message) error {
	b.pubMu.RLock()
	defer b.pubMu.RUnlock()
	if b.pubClosed {
		return fmt.Errorf("publish to %s: %w", topic, errNATSBusClosed)
	}
	if len(msgs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.APITimeout)
	defer cancel()
	t, err := b.ensure(ctx, topic)
	if err != nil {
		return err
	}
	for chunk := range slices.Chunk(msgs, b.cfg.PublishWindow) {
		if err := b.publishWindow(t, chunk); err != nil {
			if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) {
				// The stream is gone (deleted by hand?): make it again next time.
				b.topics.Delete(topic)
			}
			return fmt.Errorf("publish to %s: %w", topic, err)
		}
	}
	return nil
}

func (b *natsBus) publishWindow(t *natsTopic, msgs []*message.Message) error {
	var marshaler wmnats.NATSMarshaler
	futures := make([]jetstream.PubAckFuture, 0, len(msgs))
	var sendErr error
	for _, m := range msgs {
		nm, err := marshaler.Marshal(t.subject, m)
		if err != nil {
			sendErr = fmt.Errorf("encode message %s: %w", m.UUID, err)
			break
		}
		// Concurrent publishers share the window of unconfirmed messages;
		// when it is full, wait for room rather than fail at once.
		f, err := b.pub.js.PublishMsgAsync(nm, jetstream.WithStallWait(b.cfg.PublishTimeout))
		if err != nil {
			sendErr = fmt.Errorf("send message %s: %w", m.UUID, err)
			break
		}
		futures = append(futures, f)
	}
	var errs []error
	if sendErr != nil {
		errs = append(errs, sendErr)
	}
	for i, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			errs = append(errs, fmt.Errorf("store message %s: %w", msgs[i].UUID, err))
		}
	}
	return errors.Join(errs...)
}

// Subscribe delivers the topic's messages for the consumer group. Up to
// InFlight messages are out at once, in no guaranteed order: a nacked
// message comes back later and other processes of the group take messages
// too. A message not acked within AckWait is delivered again (and its
// context cancelled). The channel closes when ctx is cancelled or the bus
// closed; messages not yet acked then go back to the group.
func (b *natsBus) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	b.subMu.RLock()
	defer b.subMu.RUnlock()
	if b.closing {
		return nil, fmt.Errorf("subscribe to %s: %w", topic, errNATSBusClosed)
	}
	actx, cancel := context.WithTimeout(ctx, b.cfg.APITimeout)
	defer cancel()
	t, err := b.ensure(actx, topic)
	if err != nil {
		return nil, err
	}
	it, err := b.messages(t)
	if err != nil {
		return nil, fmt.Errorf("subscribe to %s: %w", topic, err)
	}
	s := &natsSubscription{
		b:     b,
		topic: topic,
		out:   make(chan *message.Message),
		log:   b.log.With(watermill.LogFields{"topic": topic, "consumer_group": b.group}),
	}
	s.pullCtx, s.cancelPull = context.WithCancel(ctx)
	s.msgCtx, s.cancelMsgs = context.WithCancel(ctx)
	s.unhookPull = context.AfterFunc(b.stopPulls, s.cancelPull)
	s.unhookMsgs = context.AfterFunc(b.stopMsgs, s.cancelMsgs)
	b.subs.Add(1)
	go s.run(it)
	return s.out, nil
}

func (b *natsBus) messages(t *natsTopic) (jetstream.MessagesContext, error) {
	it, err := t.consumer.Messages(
		jetstream.PullMaxMessages(b.cfg.Prefetch),
		// Keep waiting through reconnects instead of reporting missed
		// heartbeats: the iterator pulls again once connected.
		jetstream.WithMessagesErrOnMissingHeartbeat(false),
	)
	if err != nil {
		return nil, fmt.Errorf("pull from consumer %s of stream %s: %w", natsName(b.group), t.stream, err)
	}
	return it, nil
}

// SubscribeInitialize creates the topic's stream and the group's consumer
// if they do not exist. Publish and Subscribe do it too; calling it for
// every topic at start-up moves that work out of the first of them.
func (b *natsBus) SubscribeInitialize(topic string) error {
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.APITimeout)
	defer cancel()
	_, err := b.ensure(ctx, topic)
	return err
}

// Close stops the subscriptions from taking messages, gives handlers
// CloseGrace to finish the ones they hold (they may still publish), hands
// the rest back to the group, then closes the connections. It is safe to
// call more than once and from several goroutines (the router closes the
// subscriber of every handler).
func (b *natsBus) Close() error {
	b.closeOnce.Do(func() {
		b.subMu.Lock()
		b.closing = true
		b.subMu.Unlock()
		b.cancelPulls()

		done := make(chan struct{})
		go func() {
			b.subs.Wait()
			close(done)
		}()
		grace := time.NewTimer(b.cfg.CloseGrace)
		select {
		case <-done:
		case <-grace.C:
			b.log.Info("Handlers did not finish within the close grace period; their messages go back to the group",
				watermill.LogFields{"grace": b.cfg.CloseGrace.String()})
			b.cancelMsgs()
			<-done
		}
		grace.Stop()
		b.cancelMsgs()

		b.closePublisher()
		if err := errors.Join(b.sub.close(b.cfg.APITimeout), b.pub.close(b.cfg.APITimeout)); err != nil {
			b.closeErr = fmt.Errorf("close nats bus: %w", err)
		}
	})
	return b.closeErr
}

// closePublisher makes Publish fail from now on, once the publishes in
// progress are done.
func (b *natsBus) closePublisher() {
	b.pubMu.Lock()
	b.pubClosed = true
	b.pubMu.Unlock()
}

// ensure returns the topic's stream and the group's consumer, creating
// them if need be. Both are created with crmhub's settings only when
// missing: an operator may create them beforehand (with replicas, limits)
// and crmhub uses them as they are.
func (b *natsBus) ensure(ctx context.Context, topic string) (*natsTopic, error) {
	if t, ok := b.topics.Load(topic); ok {
		return t.(*natsTopic), nil
	}
	b.topicsMu.Lock()
	defer b.topicsMu.Unlock()
	if t, ok := b.topics.Load(topic); ok {
		return t.(*natsTopic), nil
	}
	if err := natsCheckSubject(topic); err != nil {
		return nil, fmt.Errorf("topic %q: %w", topic, err)
	}
	t := &natsTopic{
		subject: b.prefix + "." + topic,
		stream:  natsName(b.prefix + "_" + topic),
	}
	stream, err := b.sub.js.Stream(ctx, t.stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		stream, err = b.sub.js.CreateStream(ctx, jetstream.StreamConfig{
			Name:        t.stream,
			Description: "crmhub bus topic " + topic,
			Subjects:    []string{t.subject},
			// Messages stay MaxAge whether acked or not, rather than until
			// every consumer has acked them (interest retention): disk use
			// stays bounded when a consumer group is abandoned (renamed in
			// the config), and deleting a consumer by hand loses nothing.
			// Raw records outlive the bus in the store's landing table.
			Retention: jetstream.LimitsPolicy,
			MaxAge:    b.cfg.MaxAge,
			Storage:   jetstream.FileStorage,
		})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) { // another process was first
			stream, err = b.sub.js.Stream(ctx, t.stream)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s for topic %s: %w", t.stream, topic, err)
	}
	if subjects := stream.CachedInfo().Config.Subjects; !slices.Contains(subjects, t.subject) {
		return nil, fmt.Errorf("stream %s for topic %s exists but does not take subject %s (it takes %s): delete it or fix its subjects",
			t.stream, topic, t.subject, strings.Join(subjects, ", "))
	}
	name := natsName(b.group)
	cons, err := stream.Consumer(ctx, name)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		cons, err = stream.CreateConsumer(ctx, jetstream.ConsumerConfig{
			Durable:       name,
			Description:   "crmhub consumer group " + b.group,
			DeliverPolicy: jetstream.DeliverAllPolicy,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       b.cfg.AckWait,
			// Redeliver for ever: giving up on a message is the pipeline's
			// call (its dead-letter middleware), not the bus's.
			MaxDeliver:    -1,
			MaxAckPending: b.cfg.MaxAckPending,
		})
		if errors.Is(err, jetstream.ErrConsumerExists) {
			cons, err = stream.Consumer(ctx, name)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("consumer %s on stream %s: %w", name, t.stream, err)
	}
	if p := cons.CachedInfo().Config.AckPolicy; p != jetstream.AckExplicitPolicy {
		return nil, fmt.Errorf("consumer %s on stream %s acks with policy %s, want explicit: delete it so that crmhub makes it again", name, t.stream, p)
	}
	t.consumer = cons
	b.topics.Store(topic, t)
	b.log.Debug("Stream and consumer ready", watermill.LogFields{"topic": topic, "stream": t.stream, "consumer": name})
	return t, nil
}

// natsSubscription is one Subscribe call: InFlight workers, each of which
// takes the next message from the consumer, hands it out and waits for its
// ack. Long-lived workers rather than a goroutine per message (a fresh
// goroutine grows its stack anew for every message), and no reader goroutine
// in between (one more hand-off per message): at tens of thousands of
// messages a second both show in the CPU profile.
type natsSubscription struct {
	b     *natsBus
	topic string
	out   chan *message.Message
	log   watermill.LoggerAdapter

	// pullCtx ends taking messages; msgCtx is the parent of the messages'
	// contexts. Both end with the subscriber's ctx; pullCtx also when the
	// bus starts closing, msgCtx when its grace period is over.
	pullCtx, msgCtx        context.Context
	cancelPull, cancelMsgs context.CancelFunc
	unhookPull, unhookMsgs func() bool
}

func (s *natsSubscription) run(it jetstream.MessagesContext) {
	defer func() {
		close(s.out)
		s.unhookPull()
		s.unhookMsgs()
		s.cancelPull()
		s.cancelMsgs()
		s.b.subs.Done()
	}()
	for {
		err := s.consume(it)
		if s.pullCtx.Err() != nil {
			s.giveBack(it)
			return
		}
		s.log.Error("Lost the consumer, getting it again", err, watermill.LogFields{"retry_in": s.b.cfg.RetryInterval.String()})
		for {
			select {
			case <-s.pullCtx.Done():
				return
			case <-time.After(s.b.cfg.RetryInterval):
			}
			s.b.topics.Delete(s.topic)
			ctx, cancel := context.WithTimeout(s.pullCtx, s.b.cfg.APITimeout)
			t, err := s.b.ensure(ctx, s.topic)
			cancel()
			if err == nil {
				it, err = s.b.messages(t)
			}
			if err == nil {
				break
			}
			if s.pullCtx.Err() == nil {
				s.log.Error("Cannot get the consumer", err, watermill.LogFields{"retry_in": s.b.cfg.RetryInterval.String()})
			}
		}
	}
}

// consume runs the workers on it until pullCtx ends (nil) or it fails (the
// error); either way once every worker has settled the message it holds.
func (s *natsSubscription) consume(it jetstream.MessagesContext) error {
	var (
		workers sync.WaitGroup
		fail    sync.Once
		failure error
	)
	for range s.b.cfg.InFlight {
		workers.Go(func() {
			ackWait := time.NewTimer(s.b.cfg.AckWait)
			ackWait.Stop()
			for {
				// Next is safe for concurrent use: one worker waits in it,
				// the others queue on its lock.
				m, err := it.Next(jetstream.NextContext(s.pullCtx))
				if err != nil {
					if s.pullCtx.Err() == nil {
						fail.Do(func() {
							failure = err
							it.Stop() // the other workers return too
						})
					}
					return
				}
				s.deliver(m, ackWait)
			}
		})
	}
	workers.Wait()
	return failure
}

// giveBack naks the messages prefetched but not handed out, so that the
// group gets them now rather than after AckWait.
func (s *natsSubscription) giveBack(it jetstream.MessagesContext) {
	it.Drain()
	for {
		m, err := it.Next(jetstream.NextMaxWait(time.Second))
		if err != nil {
			return
		}
		s.nak(m)
	}
}

// deliver hands m out and settles it with the server: ack, nak, or nothing
// if the handler holds it past AckWait (the server has delivered it again
// by then).
func (s *natsSubscription) deliver(m jetstream.Msg, ackWait *time.Timer) {
	msg := natsDecode(m)
	ctx, cancel := context.WithCancel(s.msgCtx)
	defer cancel()
	msg.SetContext(ctx)

	select {
	case s.out <- msg:
	case <-s.pullCtx.Done():
		s.nak(m)
		return
	}

	ackWait.Reset(s.b.cfg.AckWait)
	defer ackWait.Stop()
	select {
	case <-msg.Acked():
		s.ack(m, msg)
	case <-msg.Nacked():
		s.nak(m)
	// msgCtx is what cancels ctx, short of the deferred cancel; waiting on
	// ctx.Done itself would make a channel per message.
	case <-s.msgCtx.Done():
		select {
		case <-msg.Acked():
			s.ack(m, msg)
		default:
			s.nak(m)
		}
	case <-ackWait.C:
		s.log.Info("Message not acked within the ack wait, delivered again",
			watermill.LogFields{"message_uuid": msg.UUID, "ack_wait": s.b.cfg.AckWait.String()})
	}
}

func (s *natsSubscription) ack(m jetstream.Msg, msg *message.Message) {
	// Not waiting for the server to confirm the ack (DoubleAck) doubles the
	// throughput; a lost ack only means one more delivery.
	if err := m.Ack(); err != nil {
		s.log.Error("Cannot ack message; it will be delivered again", err, watermill.LogFields{"message_uuid": msg.UUID})
	}
}

func (s *natsSubscription) nak(m jetstream.Msg) {
	if err := m.Nak(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		s.log.Error("Cannot nak message; it will be delivered again after the ack wait", err, nil)
	}
}

// natsDecode turns a JetStream message in watermill-nats' format into a
// Watermill message. It never fails: a message that other software put on
// the subject still reaches a handler (and the dead letters, if it is bad)
// rather than being redelivered for ever.
func natsDecode(m jetstream.Msg) *message.Message {
	h := m.Headers()
	md := make(message.Metadata, len(h))
	for k, v := range h {
		switch k {
		case wmnats.WatermillUUIDHdr, nats.MsgIdHdr, nats.ExpectedLastMsgIdHdr, nats.ExpectedStreamHdr,
			nats.ExpectedLastSubjSeqHdr, nats.ExpectedLastSeqHdr:
			continue
		}
		if len(v) > 0 {
			md[k] = v[len(v)-1]
		}
	}
	id := h.Get(wmnats.WatermillUUIDHdr)
	if id == "" {
		// Name it after its place in the stream, so that every delivery of
		// it carries the same id (stages deduplicate on it).
		if meta, err := m.Metadata(); err == nil {
			id = fmt.Sprintf("%s-%d", meta.Stream, meta.Sequence.Stream)
		} else {
			id = watermill.NewUUID()
		}
	}
	msg := message.NewMessage(id, m.Data())
	msg.Metadata = md
	return msg
}

// natsCheckSubject accepts what can stand in a subject as literal tokens:
// no wildcards, no whitespace, no empty token.
func natsCheckSubject(s string) error {
	if s == "" {
		return errors.New("empty")
	}
	if strings.ContainsAny(s, "*> \t\r\n") {
		return errors.New("must not contain wildcards (* >) or whitespace")
	}
	if slices.Contains(strings.Split(s, "."), "") {
		return errors.New("must not start or end with a dot or contain two in a row")
	}
	return nil
}

// natsName turns s into a valid stream or consumer name. Characters other
// than letters, digits, - and _ become _, and then a hash of s is appended
// so that "a.b" and "a_b" do not share a stream.
func natsName(s string) string {
	clean := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '_'
	}, s)
	if clean == s {
		return s
	}
	h := fnv.New32a()
	h.Write([]byte(s))
	return fmt.Sprintf("%s_%08x", clean, h.Sum32())
}
