/* flood: the load generator of scripts/bench. Sends a fixed number of packets to
 * DST:PORT with sendmmsg, paced at RATE packets/s or as fast as it can (RATE 0).
 *
 *   flood udp DST PORT COUNT RATE   UDP datagrams with 32-byte payloads
 *   flood syn DST PORT COUNT RATE   TCP SYNs (raw socket, a new source port and ISN
 *                                   each; the receiver logs and drops them)
 *
 * Prints "sent N seconds S pps R" when done. Build: cc -O2 flood.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint32_t csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)(p[len - 1] << 8);
	return sum;
}

/* A SYN with an MSS option, checksummed over the IPv4 pseudo header. */
static void build_syn(uint8_t *seg, struct in_addr src, struct in_addr dst, uint16_t sport,
		      uint16_t dport, uint32_t isn)
{
	struct tcphdr *t = (struct tcphdr *)seg;
	memset(seg, 0, 24);
	t->source = htons(sport);
	t->dest = htons(dport);
	t->seq = htonl(isn);
	t->doff = 6;
	t->syn = 1;
	t->window = htons(64240);
	seg[20] = 2; /* MSS 1460 */
	seg[21] = 4;
	seg[22] = 1460 >> 8;
	seg[23] = 1460 & 0xff;
	uint8_t pseudo[12];
	memcpy(pseudo, &src, 4);
	memcpy(pseudo + 4, &dst, 4);
	pseudo[8] = 0;
	pseudo[9] = IPPROTO_TCP;
	pseudo[10] = 0;
	pseudo[11] = 24;
	uint32_t sum = csum_add(0, pseudo, sizeof pseudo);
	sum = csum_add(sum, seg, 24);
	t->check = htons(csum_fold(sum));
}

int main(int argc, char **argv)
{
	if (argc != 6 || (strcmp(argv[1], "udp") && strcmp(argv[1], "syn"))) {
		fprintf(stderr, "usage: flood udp|syn DST PORT COUNT RATE (RATE 0 = unpaced)\n");
		return 2;
	}
	int syn = strcmp(argv[1], "syn") == 0;
	struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[3]))};
	if (inet_pton(AF_INET, argv[2], &dst.sin_addr) != 1) {
		fprintf(stderr, "flood: '%s' is not an IPv4 address\n", argv[2]);
		return 2;
	}
	unsigned long long count = strtoull(argv[4], NULL, 10);
	double rate = atof(argv[5]);

	/* the source address the route to DST uses (for the TCP pseudo header) */
	struct sockaddr_in src;
	socklen_t slen = sizeof src;
	int probe = socket(AF_INET, SOCK_DGRAM, 0);
	if (probe < 0 || connect(probe, (struct sockaddr *)&dst, sizeof dst) < 0 ||
	    getsockname(probe, (struct sockaddr *)&src, &slen) < 0) {
		fprintf(stderr, "flood: no route to %s: %s\n", argv[2], strerror(errno));
		return 1;
	}

	int fd = syn ? socket(AF_INET, SOCK_RAW, IPPROTO_TCP) : probe;
	if (fd < 0) {
		fprintf(stderr, "flood: raw socket: %s (needs CAP_NET_RAW)\n", strerror(errno));
		return 1;
	}
	if (syn && connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0) {
		fprintf(stderr, "flood: connect: %s\n", strerror(errno));
		return 1;
	}
	int sndbuf = 4 * 1024 * 1024;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf);

	static uint8_t bufs[BATCH][32];
	struct iovec iov[BATCH];
	struct mmsghdr msgs[BATCH];
	memset(msgs, 0, sizeof msgs);
	for (int i = 0; i < BATCH; i++) {
		memset(bufs[i], 'x', sizeof bufs[i]);
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = syn ? 24 : 32;
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}

	uint32_t seed = 0x9e3779b9u;
	unsigned long long sent = 0, errors = 0;
	double start = now();
	while (sent < count) {
		unsigned long long room = count - sent;
		unsigned long long n = room < BATCH ? room : BATCH;
		if (rate > 0) {
			double due = (now() - start) * rate;
			if (due < (double)sent + 1) {
				struct timespec ts = {0, 50000};
				double wait = ((double)sent + 1 - due) / rate;
				if (wait < 50e-6)
					ts.tv_nsec = (long)(wait * 1e9);
				nanosleep(&ts, NULL);
				continue;
			}
			unsigned long long ahead = (unsigned long long)due - sent;
			if (ahead < n)
				n = ahead;
		}
		if (syn) {
			for (unsigned long long i = 0; i < n; i++) {
				seed = seed * 1664525u + 1013904223u;
				uint16_t sport = (uint16_t)(1024 + (sent + i) % 64000);
				build_syn(bufs[i], src.sin_addr, dst.sin_addr, sport,
					  ntohs(dst.sin_port), seed);
			}
		}
		int r = sendmmsg(fd, msgs, (unsigned)n, 0);
		if (r < 0) {
			if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR ||
			    errno == ECONNREFUSED) {
				errors++;
				continue;
			}
			fprintf(stderr, "flood: sendmmsg: %s\n", strerror(errno));
			return 1;
		}
		sent += (unsigned)r;
	}
	double secs = now() - start;
	printf("sent %llu seconds %.3f pps %.0f errors %llu\n", sent, secs, (double)sent / secs, errors);
	return 0;
}
