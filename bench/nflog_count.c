/* nflog_count: the minimal NFLOG consumer of scripts/bench, the practical limit of
 * "receive and parse". Binds one group with libnetfilter_log (copy range 128, queue
 * threshold 64, flush timeout 10 ms, SO_RCVBUFFORCE 32 MiB) and only counts packets.
 *
 *   nflog_count GROUP [NLBUFSIZ]
 *
 * NLBUFSIZ (optional) sets the kernel's per-group batch buffer (NFULA_CFG_NLBUFSIZ; the
 * kernel default is about 4 KiB, which closes a batch after ~17 messages of ~230 bytes,
 * before the queue threshold of 64 is reached). scripts/bench leaves it at the default.
 *
 * Prints "ready" once bound; "count N enobufs M" on SIGUSR1 (and goes on) and on
 * SIGTERM/SIGINT (and exits 0). Build: cc -O2 nflog_count.c -lnetfilter_log
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <libnetfilter_log/libnetfilter_log.h>

static volatile sig_atomic_t stop, report;
static unsigned long long count, enobufs;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		report = 1;
	else
		stop = 1;
}

static int on_packet(struct nflog_g_handle *gh, struct nfgenmsg *nfmsg, struct nflog_data *nfa,
		     void *data)
{
	(void)gh;
	(void)nfmsg;
	(void)nfa;
	(void)data;
	count++;
	return 0;
}

static void print_count(void)
{
	printf("count %llu enobufs %llu\n", count, enobufs);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	if (argc != 2 && argc != 3) {
		fprintf(stderr, "usage: nflog_count GROUP [NLBUFSIZ]\n");
		return 2;
	}
	int group = atoi(argv[1]);

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal; /* no SA_RESTART: recv returns EINTR */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);

	struct nflog_handle *h = nflog_open();
	if (!h) {
		perror("nflog_count: nflog_open (needs CAP_NET_ADMIN)");
		return 1;
	}
	struct nflog_g_handle *gh = nflog_bind_group(h, (uint16_t)group);
	if (!gh) {
		fprintf(stderr, "nflog_count: cannot bind NFLOG group %d: %s (is it bound already?)\n",
			group, strerror(errno));
		return 1;
	}
	if (nflog_set_mode(gh, NFULNL_COPY_PACKET, 128) < 0 || nflog_set_qthresh(gh, 64) < 0 ||
	    nflog_set_timeout(gh, 1 /* 1/100 s */) < 0) {
		fprintf(stderr, "nflog_count: cannot configure group %d: %s\n", group, strerror(errno));
		return 1;
	}
	if (argc == 3 && nflog_set_nlbufsiz(gh, (uint32_t)strtoul(argv[2], NULL, 10)) < 0) {
		fprintf(stderr, "nflog_count: cannot set nlbufsiz %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	nflog_callback_register(gh, on_packet, NULL);

	int fd = nflog_fd(h);
	int rcvbuf = 32 * 1024 * 1024;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0)
		fprintf(stderr, "nflog_count: SO_RCVBUFFORCE: %s\n", strerror(errno));

	printf("ready\n");
	fflush(stdout);

	static char buf[1 << 17];
	while (!stop) {
		if (report) {
			report = 0;
			print_count();
		}
		ssize_t n = recv(fd, buf, sizeof buf, 0);
		if (n > 0) {
			nflog_handle_packet(h, buf, (int)n);
		} else if (n < 0 && errno == ENOBUFS) {
			enobufs++;
		} else if (n < 0 && errno != EINTR) {
			perror("nflog_count: recv");
			break;
		}
	}
	print_count();
	nflog_unbind_group(gh);
	nflog_close(h);
	return 0;
}
