// SPDX-License-Identifier: GPL-2.0
/*
 * The segments of each connection's handshake and teardown.
 *
 * No tracepoint sees segments outside ESTABLISHED, and the functions that
 * do (tcp_rcv_state_process(), tcp_check_req(), __tcp_transmit_skb(), the
 * reset senders) differ between the supported kernels or are not called
 * for every case: a reset to a closed port or from TIME_WAIT has no full
 * socket at all.  Netfilter's LOCAL_IN and LOCAL_OUT hooks see every TCP
 * segment this host receives and sends, with the same API on every kernel,
 * in every network namespace (registered per namespace, below).
 *
 * The price is a call for every packet, so the hook decides from the TCP
 * header and the socket, without a lock, whether the segment can matter:
 * one with SYN, FIN or RST always does; a data segment with none of them
 * never does; a pure ACK does only when it can complete a handshake or
 * acknowledge a FIN (tcpflow_tx_boring(), tcpflow_rx_boring()).  Only then
 * is its connection's entry locked and the segment appended to its history.
 * A received segment that came without its socket (loopback) is first
 * judged by its connection's entry, before TCP's table is searched for the
 * socket (tcpflow_rx_settled()).
 *
 * A passive open has no socket tcpflow can follow until the handshake's
 * final ACK makes one: the SYN is kept per CPU until the listener answers
 * it (the SYN-ACK is sent from within the SYN's own processing, on the same
 * CPU), then both start a request entry, found by its tuple; the final
 * ACK marks it per CPU for the child socket cloned from within that ACK's
 * processing (tcpflow_request_take()).
 *
 * Like the other hooks these run with preemption disabled in softirq or
 * process context, never sleep and never allocate.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/ktime.h>
#include <linux/moduleparam.h>
#include <linux/netdevice.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6.h>
#include <linux/percpu.h>
#include <linux/skbuff.h>
#include <linux/tcp.h>
#include <net/inet6_hashtables.h>
#include <net/inet_hashtables.h>
#include <net/ip.h>
#include <net/ipv6.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>
#include <net/request_sock.h>
#include <net/route.h>
#include <net/sock.h>
#include <net/tcp.h>

#include "tcpflow.h"

/* A segment, parsed once, as this host sees it. */
struct tcpflow_pkt {
	struct tcpflow_key key;		/* local: ours, remote: the peer's */
	u16 family;
	bool fin_ack;			/* a pure ACK that may ack a FIN */
	bool acks_our_fin;		/* rx: it acknowledges our FIN */
	struct tcpflow_event e;
};

/* The last SYN received with no connection to go to, per CPU. */
struct tcpflow_syn_slot {
	bool valid;
	struct tcpflow_pkt p;
};

/* The request whose final ACK this CPU is processing. */
struct tcpflow_ack_hint {
	struct tcpflow_conn *c;		/* pool memory: always valid */
	u64 id;				/* and still this request if id matches */
};

/* Both only touched on their CPU with interrupts off. */
static DEFINE_PER_CPU(struct tcpflow_syn_slot, tcpflow_syn_slot);
static DEFINE_PER_CPU(struct tcpflow_ack_hint, tcpflow_ack_hint);

static unsigned int tcpflow_tcp_flags(const struct tcphdr *th)
{
	return ((const u8 *)th)[13];
}

/*
 * A pure ACK or data segment leaving from a full socket.  Data is never
 * recorded; a pure ACK is when it can complete the handshake (a client's
 * first ACK, sent in ESTABLISHED before anything was received and when
 * only the SYN is acknowledged: later ones are window probes) or
 * acknowledge the peer's FIN (RCV_SHUTDOWN is set before that ACK goes).
 */
static bool tcpflow_tx_boring(const struct sock *sk, unsigned int paylen)
{
	if (!sk || !sk_fullsock(sk) || !tcpflow_is_tcp(sk))
		return false;	/* a control socket's ACK, or not TCP's */
	if (paylen)
		return true;
	if (READ_ONCE(sk->sk_shutdown) & RCV_SHUTDOWN)
		return false;
	switch (READ_ONCE(sk->sk_state)) {
	case TCP_ESTABLISHED:
		return READ_ONCE(tcp_sk(sk)->bytes_received) != 0 ||
		       READ_ONCE(tcp_sk(sk)->bytes_acked) > 1;
	case TCP_SYN_SENT:
	case TCP_SYN_RECV:
		return false;
	default:
		return true;
	}
}

/* The states of a socket whose FIN is outstanding. */
static bool tcpflow_fin_outstanding(int skst)
{
	return skst == TCP_FIN_WAIT1 || skst == TCP_CLOSING ||
	       skst == TCP_LAST_ACK;
}

/*
 * A segment received by a socket whose FIN is outstanding acknowledges
 * that FIN when it acks write_seq: the FIN is the last byte it sends.
 */
static bool tcpflow_acks_our_fin(const struct sock *sk, int skst,
				 const struct tcphdr *th)
{
	return tcpflow_fin_outstanding(skst) &&
	       ntohl(th->ack_seq) == READ_ONCE(tcp_sk(sk)->write_seq);
}

/*
 * A pure ACK or data segment for this socket.  It matters when it reaches
 * a request (the final ACK of a handshake), a socket in a handshake state,
 * or a socket whose FIN is outstanding and it acknowledges that FIN.
 */
static bool tcpflow_rx_boring(const struct sock *sk, int skst,
			      const struct tcphdr *th)
{
	/* A request or a timewait socket (rare) is never boring. */
	if (tcpflow_fin_outstanding(skst))
		return !tcpflow_acks_our_fin(sk, skst, th);
	return skst == TCP_ESTABLISHED || skst == TCP_CLOSE_WAIT ||
	       skst == TCP_FIN_WAIT2;
}

/* The connection's cookie when the socket carries it (full or timewait). */
static u64 tcpflow_pkt_cookie(const struct sock *sk)
{
	if (!sk)
		return 0;
	if (sk_fullsock(sk)) {
		if (!tcpflow_is_tcp(sk))
			return 0;
	} else if (sk->sk_state != TCP_TIME_WAIT) {
		return 0;
	}
	return atomic64_read(&sk->sk_cookie);
}

static int tcpflow_sent_kind(u8 flags)
{
	if (flags & TCPFLOW_TCP_SYN)
		return flags & TCPFLOW_TCP_ACK ? TCPFLOW_SENT_SYNACK :
						 TCPFLOW_SENT_SYN;
	if (flags & TCPFLOW_TCP_FIN)
		return TCPFLOW_SENT_FIN;
	return -1;
}

/* Append a segment: initial sequence numbers, retransmissions counted. */
static void tcpflow_record(struct tcpflow_conn *c, struct tcpflow_pkt *p)
{
	struct tcpflow_event *e = &p->e;
	int kind = tcpflow_sent_kind(e->flags);

	if (e->flags & TCPFLOW_TCP_SYN) {
		if (e->a == TCPFLOW_DIR_TX &&
		    !(c->info.flags & TCPFLOW_CONN_ISN_LOCAL)) {
			c->info.isn_local = e->seq;
			c->info.flags |= TCPFLOW_CONN_ISN_LOCAL;
		} else if (e->a == TCPFLOW_DIR_RX &&
			   !(c->info.flags & TCPFLOW_CONN_ISN_REMOTE)) {
			c->info.isn_remote = e->seq;
			c->info.flags |= TCPFLOW_CONN_ISN_REMOTE;
		}
	}
	if (kind >= 0) {
		struct tcpflow_sent *s = &c->sent[e->a][kind];
		u32 seq = e->seq + (kind == TCPFLOW_SENT_FIN ? e->len : 0);

		if (s->n && s->seq == seq) {
			e->b = min_t(u32, s->n, U8_MAX);
			s->n++;
		} else {
			s->seq = seq;
			s->n = 1;
		}
	}
	tcpflow_conn_add_event(c, e);
}

/* The SYN a listener is answering, if this CPU kept it. */
static bool tcpflow_syn_slot_take(const struct tcpflow_key *k,
				  struct tcpflow_pkt *syn)
{
	struct tcpflow_syn_slot *slot = this_cpu_ptr(&tcpflow_syn_slot);

	if (!slot->valid || memcmp(&slot->p.key, k, sizeof(*k)))
		return false;
	slot->valid = false;
	*syn = slot->p;
	return true;
}

/*
 * A SYN-ACK sent without a full socket: by a request socket, or with a SYN
 * cookie and no socket at all.  It begins a request entry, which holds the
 * SYN it answers.
 *
 * A request socket is where the textbooks put LISTEN -> SYN_RECV: the
 * listener received a SYN and answers it (RFC 9293's "rcv SYN, snd
 * SYN,ACK").  The kernel's tracepoint reports that transition only when
 * the final ACK makes the child socket; it is recorded here instead, as
 * the SYN-ACK leaves, and the child's report is not recorded again
 * (hooks.c).  A SYN cookie keeps no request socket: SYN_RECV is then
 * recorded when the child is made, and the connection flagged syncookie.
 */
static struct tcpflow_conn *tcpflow_request_start(const struct sock *sk,
						  struct tcpflow_pkt *p,
						  u32 netns)
{
	struct tcpflow_conn *c, *l;
	struct tcpflow_pkt syn;
	bool have_syn;

	have_syn = tcpflow_syn_slot_take(&p->key, &syn);
	c = tcpflow_conn_new_request(&p->key, p->family, netns);
	if (!c)
		return NULL;
	if (have_syn) {
		c->info.first_ns = syn.e.t_ns;
		tcpflow_record(c, &syn);
	} else {
		c->info.first_ns = p->e.t_ns;
		c->info.flags |= TCPFLOW_CONN_PARTIAL;
	}
	if (sk) {
		/*
		 * A nanosecond before the SYN-ACK it sends: each event of a
		 * history has a time of its own, in the history's order.
		 */
		tcpflow_conn_add_state(c, p->e.t_ns - 1, TCP_LISTEN,
				       TCP_SYN_RECV);
		c->req_syn_recv = 1;
	} else {
		c->info.flags |= TCPFLOW_CONN_SYNCOOKIE;
	}
	if (sk && sk->sk_state == TCP_NEW_SYN_RECV) {
		const struct sock *lsk = inet_reqsk(sk)->rsk_listener;
		u64 lcookie = lsk ? atomic64_read(&lsk->sk_cookie) : 0;

		l = lcookie ? tcpflow_conn_lookup(lcookie) : NULL;
		if (l && l->info.role == TCPFLOW_ROLE_LISTENER)
			c->info.parent_id = l->info.id;
	}
	return c;
}

/* Is this rx SYN (no ACK) a retransmission to, or a simultaneous open of, c? */
static bool tcpflow_syn_belongs(const struct tcpflow_conn *c,
				const struct tcpflow_pkt *p)
{
	if (c->info.flags & TCPFLOW_CONN_CLOSED)
		return false;
	if (c->info.state != TCP_SYN_SENT && c->info.state != TCP_SYN_RECV)
		return false;
	return !(c->info.flags & TCPFLOW_CONN_ISN_REMOTE) ||
	       c->info.isn_remote == p->e.seq;
}

/*
 * An rx segment that reaches a request socket (or, with a SYN cookie, no
 * socket) may complete the handshake and clone a child.  The connection it
 * is for, found by its tuple, is then either still a request or was
 * adopted by a child cloned on another CPU a moment ago: a live entry, not
 * in TIME_WAIT (the only older connection a new handshake can share its
 * tuple with).
 */
static bool tcpflow_conn_in_handshake(const struct tcpflow_conn *c)
{
	return !(c->info.flags & TCPFLOW_CONN_CLOSED) && !c->in_tw &&
	       c->info.state != TCP_TIME_WAIT;
}

/*
 * An rx segment without SYN, FIN or RST that reached a request socket (or
 * none), or a child still in SYN_RECV, only because it raced the child
 * socket that the handshake's final ACK was making or finishing on another
 * CPU: it belongs to the child, not to the handshake.  A pure ACK there is
 * the handshake's only when it reaches a request entry; data only when it
 * reaches a request that has not had its final ACK (that ACK was lost, and
 * the data completes the handshake instead).
 */
static bool tcpflow_rx_races_child(int skst,
				   const struct tcpflow_conn *c,
				   const struct tcpflow_pkt *p)
{
	bool request = tcpflow_conn_is_request(c);

	if (p->e.a != TCPFLOW_DIR_RX ||
	    (p->e.flags & (TCPFLOW_TCP_SYN | TCPFLOW_TCP_FIN | TCPFLOW_TCP_RST)))
		return false;
	if (!p->e.len)
		return skst == TCP_NEW_SYN_RECV && !request;
	return (skst == TCP_NEW_SYN_RECV || skst == TCP_SYN_RECV) &&
	       !(request && !c->req_acked);
}

/*
 * Segments a history still takes once it is closed: the reset close()
 * sends right after the move to CLOSE, and what the peer had in flight
 * then.  A closed entry stays findable by its tuple until it is reused, and
 * what the peer sends it after that would let the peer write on, into a
 * history that ended and into every reader's live stream: such segments
 * are counted as dropped events, not recorded.
 */
#define TCPFLOW_AFTER_CLOSE	4

/*
 * A pure ACK that passed the hook's test as the ACK of a FIN (tx: the
 * peer's FIN was received; rx: it acknowledges our FIN) is recorded only
 * if it is the first since that FIN was recorded, and the FIN was not
 * acknowledged already by a FIN going the other way: the rest are window
 * updates while the application drains its receive queue, or duplicates,
 * and their number depends on timing, not on what TCP did with the FIN.
 * A retransmitted FIN is recorded, and so is the first ACK after it.
 */
static bool tcpflow_fin_ack_takes(struct tcpflow_conn *c, u8 dir)
{
	bool owed;

	if (dir == TCPFLOW_DIR_TX) {
		owed = c->fin_ack_owed;
		c->fin_ack_owed = 0;
	} else {
		owed = c->fin_ack_awaited;
		c->fin_ack_awaited = 0;
	}
	return owed;
}

static bool tcpflow_closed_takes(struct tcpflow_conn *c)
{
	if (!(c->info.flags & TCPFLOW_CONN_CLOSED))
		return true;
	if (c->after_close >= TCPFLOW_AFTER_CLOSE) {
		tcpflow_count_dropped(c->net_cookie);
		return false;
	}
	c->after_close++;
	return true;
}

/* A SYN-ACK sent without a full socket: it begins a request. */
static bool tcpflow_synack_starts(const struct sock *sk,
				  const struct tcpflow_pkt *p)
{
	return p->e.a == TCPFLOW_DIR_TX &&
	       (p->e.flags & (TCPFLOW_TCP_SYN | TCPFLOW_TCP_ACK)) ==
	       (TCPFLOW_TCP_SYN | TCPFLOW_TCP_ACK) &&
	       (!sk || !sk_fullsock(sk));
}

/*
 * An rx SYN that is not for @c (locked, or NULL) is a new passive open, if
 * a listener answers it: this CPU keeps it for the SYN-ACK.
 */
static bool tcpflow_syn_keep(const struct tcpflow_conn *c,
			     const struct tcpflow_pkt *p)
{
	struct tcpflow_syn_slot *slot;

	if (p->e.a != TCPFLOW_DIR_RX ||
	    (p->e.flags & (TCPFLOW_TCP_SYN | TCPFLOW_TCP_ACK)) !=
	    TCPFLOW_TCP_SYN || (c && tcpflow_syn_belongs(c, p)))
		return false;
	slot = this_cpu_ptr(&tcpflow_syn_slot);
	slot->p = *p;
	slot->valid = true;
	return true;
}

/*
 * Does recording this segment in @c (locked) change where an entry is or
 * how it is counted: a SYN-ACK that begins a request, a port learnt from
 * a SYN, a reset that ends a request?  Then the table lock is held too.
 */
static bool tcpflow_segment_moves(const struct tcpflow_conn *c,
				  const struct sock *sk,
				  const struct tcpflow_pkt *p)
{
	if (tcpflow_synack_starts(sk, p) && !tcpflow_conn_is_request(c))
		return true;
	if (!c->info.sport && p->e.a == TCPFLOW_DIR_TX)
		return true;
	return (p->e.flags & TCPFLOW_TCP_RST) && tcpflow_conn_is_request(c);
}

/* The segment in @c (locked); the table lock too if it moves it. */
static void tcpflow_segment_record(struct tcpflow_conn *c, int skst,
				   struct tcpflow_pkt *p)
{
	u8 flags = p->e.flags, dir = p->e.a;

	if (dir == TCPFLOW_DIR_RX &&
	    !(flags & (TCPFLOW_TCP_SYN | TCPFLOW_TCP_RST)) &&
	    skst == TCP_NEW_SYN_RECV && tcpflow_conn_in_handshake(c)) {
		/* Its processing may clone a child: tcpflow_request_take(). */
		struct tcpflow_ack_hint *h = this_cpu_ptr(&tcpflow_ack_hint);

		h->c = c;
		h->id = c->info.id;
	}
	if (tcpflow_rx_races_child(skst, c, p) ||
	    (p->fin_ack && !tcpflow_fin_ack_takes(c, dir)) ||
	    !tcpflow_closed_takes(c))
		return;

	if (!c->info.sport && dir == TCPFLOW_DIR_TX) {
		/* A failed connect() releases its port before the tracepoint
		 * fires; its SYN carried it.
		 */
		tcpflow_conn_set_lport(c, p->key.lport);
	}
	tcpflow_record(c, p);
	if (flags & TCPFLOW_TCP_FIN) {
		/* A FIN carries the ACK of what it answers, a FIN included. */
		if (dir == TCPFLOW_DIR_RX) {
			c->fin_ack_owed = 1;
			if (p->acks_our_fin)
				c->fin_ack_awaited = 0;
		} else {
			c->fin_ack_awaited = 1;
			c->fin_ack_owed = 0;
		}
	}
	if (tcpflow_conn_is_request(c)) {
		if (flags & TCPFLOW_TCP_RST) {
			c->info.state = TCP_CLOSE;
			tcpflow_conn_close(c);
		} else if (dir == TCPFLOW_DIR_RX && !(flags & TCPFLOW_TCP_SYN)) {
			c->req_acked = 1;
		}
	}
}

/*
 * skst is the socket's state as the hook read it, once, before any lock:
 * TCP_NEW_SYN_RECV for a request socket or none.
 *
 * The connection's entry is looked up without the table lock first, and
 * the segment recorded under the entry's lock alone unless it moves the
 * entry.  Otherwise, or if that lookup missed, everything is done again
 * with the table lock held, where the lookups are exact.  Times are read
 * under the entry's lock, as in hooks.c.
 */
static void tcpflow_segment(const struct net *net, const struct sock *sk,
			    int skst, struct tcpflow_pkt *p)
{
	struct tcpflow_conn *c;
	unsigned long irqflags;
	u64 cookie;

	cookie = tcpflow_pkt_cookie(sk);

	local_irq_save(irqflags);
	if (p->e.a == TCPFLOW_DIR_RX) {
		/* Only the segment just before a child's clone may name it. */
		this_cpu_ptr(&tcpflow_ack_hint)->c = NULL;
	}
	c = cookie ? tcpflow_conn_try(cookie) : tcpflow_conn_try_key(&p->key);
	p->e.t_ns = ktime_get_ns();
	if (c) {
		bool kept = tcpflow_syn_keep(c, p);

		if (kept || !tcpflow_segment_moves(c, sk, p)) {
			if (!kept)
				tcpflow_segment_record(c, skst, p);
			tcpflow_conn_unlock(c);
			goto out;
		}
		tcpflow_conn_unlock(c);
	} else if (!cookie && tcpflow_syn_keep(NULL, p)) {
		goto out;
	}

	raw_spin_lock(&tcpflow_table.lock);
	c = cookie ? tcpflow_conn_lookup(cookie) : NULL;
	if (!c)
		c = tcpflow_conn_lookup_key(&p->key);
	if (c)
		tcpflow_conn_lock(c);
	p->e.t_ns = ktime_get_ns();
	if (tcpflow_syn_keep(c, p))
		goto unlock;
	if (tcpflow_synack_starts(sk, p) &&
	    !(c && tcpflow_conn_is_request(c))) {
		if (c)
			tcpflow_conn_unlock(c);
		c = tcpflow_request_start(sk, p, net->ns.inum);
	}
	if (c)
		tcpflow_segment_record(c, skst, p);
unlock:
	if (c)
		tcpflow_conn_unlock(c);
	raw_spin_unlock(&tcpflow_table.lock);
out:
	local_irq_restore(irqflags);
}

/*
 * Called with tcpflow_table.lock held from the LISTEN -> SYN_RECV of a
 * child socket: the entry of the handshake that the segment this CPU has
 * just processed completes, if it is on the child's port in the child's
 * namespace, or NULL.  The child's peer address is not set yet at that
 * point, hence the hint, which only the rx segment processed last on this
 * CPU sets: the child is cloned from within that segment's processing.
 *
 * The entry is returned whatever became of it since: a reset on another
 * CPU may have closed it, or another CPU's child may have adopted it, even
 * before this segment arrived (tcpflow_child_new() tells the cases apart).
 */
struct tcpflow_conn *tcpflow_request_take(const struct sock *child)
{
	struct tcpflow_ack_hint *h = this_cpu_ptr(&tcpflow_ack_hint);
	struct tcpflow_conn *c = h->c;

	lockdep_assert_held(&tcpflow_table.lock);
	h->c = NULL;
	if (!c || c->info.id != h->id ||
	    c->net_cookie != tcpflow_net_cookie(sock_net(child)) ||
	    c->info.sport != child->sk_num)
		return NULL;
	return c;
}

/* The segment's tuple as this host sees it, in its namespace. */
static void tcpflow_pkt_key(struct tcpflow_key *k, const struct net *net,
			    const struct sk_buff *skb,
			    const struct tcphdr *th, u16 family, u8 dir)
{
	const void *src, *dst;

	if (family == AF_INET6) {
		src = &ipv6_hdr(skb)->saddr;
		dst = &ipv6_hdr(skb)->daddr;
	} else {
		src = &ip_hdr(skb)->saddr;
		dst = &ip_hdr(skb)->daddr;
	}
	*k = (struct tcpflow_key){
		.net_cookie = tcpflow_net_cookie(net),
		.lport = ntohs(dir == TCPFLOW_DIR_TX ? th->source : th->dest),
		.rport = ntohs(dir == TCPFLOW_DIR_TX ? th->dest : th->source),
	};
	tcpflow_key_set_addr(&k->laddr, family,
			     dir == TCPFLOW_DIR_TX ? src : dst);
	tcpflow_key_set_addr(&k->raddr, family,
			     dir == TCPFLOW_DIR_TX ? dst : src);
}

/*
 * An rx segment without SYN, FIN or RST, which no socket came with
 * (loopback, or early demux off): can its connection's entry, found by
 * the tuple without the table lock, tell that it does not matter, before
 * TCP's established table is searched for the socket?  It can when the
 * entry is ESTABLISHED, CLOSE_WAIT or FIN_WAIT2 in a full socket: the
 * states in which tcpflow_rx_boring() passes any such segment.  An entry
 * is never behind its socket: the tracepoint records a state before the
 * socket takes it, and tw_pending is set before the timewait socket that
 * replaces it is hashed.  With no entry found, the socket decides.
 */
static bool tcpflow_rx_settled(const struct tcpflow_key *k)
{
	struct tcpflow_conn *c;
	unsigned long flags;
	bool settled = false;

	local_irq_save(flags);
	c = tcpflow_conn_try_key(k);
	if (c) {
		switch (c->info.state) {
		case TCP_ESTABLISHED:
		case TCP_CLOSE_WAIT:
		case TCP_FIN_WAIT2:
			settled = !c->in_tw && !c->tw_pending &&
				  !tcpflow_conn_is_request(c);
			break;
		}
		tcpflow_conn_unlock(c);
	}
	local_irq_restore(flags);
	return settled;
}

/*
 * Will the kernel segment this TSO/GSO packet in software before DEV, its
 * route's device (LOCAL_OUT's state->out), sees it?  validate_xmit_skb()
 * does when netif_skb_features() leaves DEV no offload for it: more
 * segments or bytes than DEV takes, or a device without the feature.
 * Otherwise the packet reaches the device whole, as a capture there shows
 * it, and a peer across lo or veth receives it whole too (a NIC with TSO
 * cuts it past every local capture).  netif_skb_features() itself reads
 * skb->dev, which is set only after this hook; what it adds (VLAN and
 * encapsulation features, ndo_features_check) is not foreseen here.
 */
static bool tcpflow_gso_in_software(const struct sk_buff *skb,
				    const struct net_device *dev)
{
	if (!skb_is_gso(skb))
		return false;
	if (!dev)
		return true;
	if (skb_shinfo(skb)->gso_segs > READ_ONCE(dev->gso_max_segs) ||
	    skb->len >= tcpflow_gso_max_size(dev, skb))
		return true;
	return !net_gso_ok(READ_ONCE(dev->features),
			   skb_shinfo(skb)->gso_type);
}

/* Look up the socket early demux did not attach (loopback, or disabled). */
static struct sock *tcpflow_rx_lookup(const struct net *net,
				      struct sk_buff *skb,
				      const struct tcphdr *th, u16 family)
{
	if (family == AF_INET6)
		return tcpflow_inet6_lookup_established((struct net *)net,
							&ipv6_hdr(skb)->saddr,
							th->source,
							&ipv6_hdr(skb)->daddr,
							ntohs(th->dest),
							inet6_iif(skb),
							inet6_sdif(skb));
	return tcpflow_inet_lookup_established((struct net *)net,
					       ip_hdr(skb)->saddr, th->source,
					       ip_hdr(skb)->daddr,
					       ntohs(th->dest),
					       inet_iif(skb), inet_sdif(skb));
}

static unsigned int tcpflow_nf_tcp(struct sk_buff *skb,
				   const struct nf_hook_state *state,
				   unsigned int thoff, u16 family)
{
	u8 dir = state->hook == NF_INET_LOCAL_OUT ? TCPFLOW_DIR_TX :
						   TCPFLOW_DIR_RX;
	struct sock *sk = skb->sk, *ref = NULL;
	unsigned int hlen, paylen;
	struct tcpflow_pkt p;
	struct tcphdr _th;
	const struct tcphdr *th;
	bool pure_ack = false;		/* no data, SYN, FIN or RST */
	bool plain;			/* no SYN, FIN or RST */
	int skst;

	th = skb_header_pointer(skb, thoff, sizeof(_th), &_th);
	if (!th)
		return NF_ACCEPT;
	hlen = th->doff * 4;
	if (hlen < sizeof(*th) || skb->len < thoff + hlen)
		return NF_ACCEPT;
	paylen = skb->len - thoff - hlen;
	/* Outside ports=: before any lookup. */
	if (dir == TCPFLOW_DIR_TX ?
	    tcpflow_scope_out(ntohs(th->source), ntohs(th->dest)) :
	    tcpflow_scope_out(ntohs(th->dest), ntohs(th->source)))
		return NF_ACCEPT;

	plain = !(tcp_flag_word(th) &
		  (TCP_FLAG_SYN | TCP_FLAG_FIN | TCP_FLAG_RST));
	if (dir == TCPFLOW_DIR_RX && !sk) {
		if (plain) {
			tcpflow_pkt_key(&p.key, state->net, skb, th, family,
					dir);
			if (tcpflow_rx_settled(&p.key))
				return NF_ACCEPT;
		}
		ref = tcpflow_rx_lookup(state->net, skb, th, family);
		sk = ref;
	}
	/*
	 * Read once: a child's state moves on (SYN_RECV to ESTABLISHED) on
	 * the CPU processing the handshake's final ACK while this segment
	 * may wait there for its entry's lock, and a data segment judged by
	 * two readings could pass as neither boring nor the child's.
	 */
	skst = sk ? READ_ONCE(sk->sk_state) : TCP_NEW_SYN_RECV;
	if (plain) {
		/* The hot path: leave as early as possible. */
		if (dir == TCPFLOW_DIR_TX) {
			if (tcpflow_tx_boring(sk, paylen))
				return NF_ACCEPT;
		} else if (sk && tcpflow_rx_boring(sk, skst, th)) {
			goto out;
		}
		pure_ack = !paylen;
	}

	memset(&p, 0, sizeof(p));
	if (dir == TCPFLOW_DIR_RX) {
		p.acks_our_fin = tcpflow_acks_our_fin(sk, skst, th);
		p.fin_ack = pure_ack && p.acks_our_fin;
	} else {
		/* Not boring for RCV_SHUTDOWN: tcpflow_fin_ack_takes() */
		p.fin_ack = pure_ack && sk && sk_fullsock(sk) &&
			    tcpflow_is_tcp(sk) &&
			    (READ_ONCE(sk->sk_shutdown) & RCV_SHUTDOWN);
	}

	p.family = family;
	tcpflow_pkt_key(&p.key, state->net, skb, th, family, dir);
	p.e.a = dir;
	p.e.type = TCPFLOW_EV_SEGMENT;
	p.e.flags = tcpflow_tcp_flags(th);
	p.e.seq = ntohl(th->seq);
	if (dir == TCPFLOW_DIR_TX && (tcp_flag_word(th) & TCP_FLAG_FIN) &&
	    paylen && tcpflow_gso_in_software(skb, state->out)) {
		/*
		 * The kernel cuts this packet into segments of gso_size before
		 * its device sees it, and only the last carries the FIN:
		 * record that one, as a capture on the device and the peer
		 * see it.
		 */
		unsigned int off = rounddown(paylen - 1,
					     skb_shinfo(skb)->gso_size);

		p.e.seq += off;
		paylen -= off;
	}
	p.e.ack = ntohl(th->ack_seq);
	p.e.win = ntohs(th->window);
	p.e.len = min_t(unsigned int, paylen, U16_MAX);
	tcpflow_segment(state->net, sk, skst, &p);
out:
	/* The lookup took a reference, as early demux would have. */
	if (ref)
		sock_gen_put(ref);
	return NF_ACCEPT;
}

static unsigned int tcpflow_nf_ipv4(void *priv, struct sk_buff *skb,
				    const struct nf_hook_state *state)
{
	const struct iphdr *iph = ip_hdr(skb);

	if (iph->protocol != IPPROTO_TCP || ip_is_fragment(iph))
		return NF_ACCEPT;
	return tcpflow_nf_tcp(skb, state,
			      skb_network_offset(skb) + iph->ihl * 4, AF_INET);
}

/*
 * The first fragment of an IPv6 packet reaching LOCAL_IN: IPv6 reassembles
 * after this hook (unless conntrack's defragmentation runs before it), so
 * the whole segment, its length and any FIN, is never seen here.  IPv4
 * reassembles before LOCAL_IN and both fragment after LOCAL_OUT.  Rather
 * than record a segment with a wrong length, one that would have been
 * recorded is counted as a dropped event.
 */
static unsigned int tcpflow_nf_fragment(struct sk_buff *skb,
					const struct net *net,
					unsigned int thoff)
{
	const struct tcphdr *th;
	struct tcphdr _th;

	th = skb_header_pointer(skb, thoff, sizeof(_th), &_th);
	if (th && (tcp_flag_word(th) &
		   (TCP_FLAG_SYN | TCP_FLAG_FIN | TCP_FLAG_RST)))
		tcpflow_count_dropped(tcpflow_net_cookie(net));
	return NF_ACCEPT;
}

static unsigned int tcpflow_nf_ipv6(void *priv, struct sk_buff *skb,
				    const struct nf_hook_state *state)
{
	int thoff = skb_network_offset(skb) + sizeof(struct ipv6hdr);
	u8 nexthdr = ipv6_hdr(skb)->nexthdr;
	__be16 frag_off;

	if (nexthdr != IPPROTO_TCP) {
		if (!ipv6_ext_hdr(nexthdr))
			return NF_ACCEPT;
		thoff = ipv6_skip_exthdr(skb, thoff, &nexthdr, &frag_off);
		if (thoff < 0 || nexthdr != IPPROTO_TCP ||
		    (frag_off & htons(~0x7)))
			return NF_ACCEPT;
		if (frag_off & htons(IP6_MF))
			return tcpflow_nf_fragment(skb, state->net, thoff);
	}
	return tcpflow_nf_tcp(skb, state, thoff, AF_INET6);
}

/*
 * Last in each chain: what is recorded is what filtering let through, as
 * it left (LOCAL_OUT) or as TCP is about to receive it (LOCAL_IN).
 */
static const struct nf_hook_ops tcpflow_nf_ops[] = {
	{
		.hook = tcpflow_nf_ipv4,
		.pf = NFPROTO_IPV4,
		.hooknum = NF_INET_LOCAL_IN,
		.priority = NF_IP_PRI_LAST,
	},
	{
		.hook = tcpflow_nf_ipv4,
		.pf = NFPROTO_IPV4,
		.hooknum = NF_INET_LOCAL_OUT,
		.priority = NF_IP_PRI_LAST,
	},
	{
		.hook = tcpflow_nf_ipv6,
		.pf = NFPROTO_IPV6,
		.hooknum = NF_INET_LOCAL_IN,
		.priority = NF_IP6_PRI_LAST,
	},
	{
		.hook = tcpflow_nf_ipv6,
		.pf = NFPROTO_IPV6,
		.hooknum = NF_INET_LOCAL_OUT,
		.priority = NF_IP6_PRI_LAST,
	},
};

static int __net_init tcpflow_net_init(struct net *net)
{
	return nf_register_net_hooks(net, tcpflow_nf_ops,
				     ARRAY_SIZE(tcpflow_nf_ops));
}

/*
 * nf_unregister_net_hooks() does not wait for hooks running on other CPUs:
 * it installs a hook array without ours and hands the old one to
 * call_rcu(), or, if no smaller array can be allocated, leaves a stub in
 * our place and frees nothing (net/netfilter/core.c, 6.1 and 6.12).
 * Hooks run inside rcu_read_lock() (nf_hook()): tcpflow_segments_exit()
 * waits for them.
 */
static void __net_exit tcpflow_net_exit(struct net *net)
{
	nf_unregister_net_hooks(net, tcpflow_nf_ops,
				ARRAY_SIZE(tcpflow_nf_ops));
}

static struct pernet_operations tcpflow_net_ops = {
	.init = tcpflow_net_init,
	.exit = tcpflow_net_exit,
};

/*
 * Hooks every existing namespace now and every new one as it is made.  On
 * failure the namespaces already hooked are unhooked, and their hooks may
 * have run: wait for them as tcpflow_segments_exit() does.
 */
int tcpflow_segments_init(void)
{
	int err = register_pernet_subsys(&tcpflow_net_ops);

	if (err) {
		synchronize_net();
		pr_err("cannot register netfilter hooks: %d\n", err);
	}
	return err;
}

/*
 * After this returns no hook runs or will run.  unregister_pernet_subsys()
 * ends with an rcu_barrier(), which waits for the hooks only when the old
 * hook arrays were handed to call_rcu(); synchronize_net() waits for
 * every reader of the arrays that ran before it, whatever happened to
 * them.
 */
void tcpflow_segments_exit(void)
{
	unregister_pernet_subsys(&tcpflow_net_ops);
	synchronize_net();
}
