/* gen_capture: a large, realistic DLT_NFLOG capture and the matching container store
 * for scripts/bench (netlogd --replay, callgrind).
 *
 *   gen_capture EVENTS CAPTURE.pcap STORE.json
 *
 * STORE.json: 1,000 containers in Cloud Foundry's store format (facts/cloudfoundry.md §2),
 * container i at 10.255.(i/64).(i%64+2): 10.255.15.7 is container 965, 10.255.15.13 is
 * container 971 (the live bench's sender and receiver). 2 % carry only an app_id (tasks).
 * CAPTURE.pcap: EVENTS records of LINKTYPE_NFLOG (239), laid out as the kernel and
 * libpcap write them (checked against `tcpdump -i nflog:N -w` on kernel 6.x): nfgenmsg
 * header (family, version 0, res_id big-endian), then TLVs with length and type in host
 * order, padded to 4 bytes, in the kernel's order (PACKET_HDR, PREFIX, INDEV, OUTDEV,
 * MARK, HWADDR, HWTYPE, HWLEN, HWHEADER, TIMESTAMP, PAYLOAD; copy range 128).
 * Events are FORWARD-hook packets between and out of those containers, with the five
 * kinds of CF prefix (OK_<tag>_<app>, DENY_C2C_<handle>, OK_<handle>, DENY_<handle>,
 * DENY_ORL_<handle>, each cut to 28 characters plus a space) and a TCP/UDP/ICMP mix of
 * about 60/28/12 %. Allowed c2c traffic follows 3,000 policies (source -> destination
 * app), so there are about 7,000 distinct prefixes, as on a busy cell; everything else
 * picks containers at random. Deterministic: the same EVENTS give the same bytes.
 * Build: cc -O2 gen_capture.c
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONTAINERS 1000
#define COPY_RANGE 128
#define POLICIES 3000 /* c2c policies (source app -> destination app) on the cell */

struct container {
	char handle[29];
	char app[37], space[37], org[37];
	uint32_t ip; /* host order */
	uint16_t tag;
	int task;
};

static struct container cs[CONTAINERS];
static uint64_t rng_state = 0x243f6a8885a308d3ull;

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t rnd(uint32_t n) { return (uint32_t)(splitmix(&rng_state) % n); }

static void guid(uint64_t *s, char out[37])
{
	uint64_t a = splitmix(s), b = splitmix(s);
	snprintf(out, 37, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(a >> 32), (unsigned)(a >> 16) & 0xffff,
		 (unsigned)a & 0xffff, (unsigned)(b >> 48), (unsigned long long)(b & 0xffffffffffffull));
}

static void make_containers(void)
{
	uint64_t s = 42;
	char spaces[50][37], orgs[10][37];
	for (int i = 0; i < 10; i++)
		guid(&s, orgs[i]);
	for (int i = 0; i < 50; i++)
		guid(&s, spaces[i]);
	for (int i = 0; i < CONTAINERS; i++) {
		struct container *c = &cs[i];
		uint64_t a = splitmix(&s), b = splitmix(&s);
		snprintf(c->handle, sizeof c->handle, "%08x-%04x-%04x-%04x-%04x", (unsigned)(a >> 32),
			 (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xffff, (unsigned)(b >> 48),
			 (unsigned)(b >> 32) & 0xffff);
		guid(&s, c->app);
		int sp = (int)(splitmix(&s) % 50);
		memcpy(c->space, spaces[sp], 37);
		memcpy(c->org, orgs[sp % 10], 37);
		c->ip = 0x0aff0000u | (uint32_t)(i / 64) << 8 | (uint32_t)(i % 64 + 2);
		c->tag = (uint16_t)(i + 1);
		c->task = i % 50 == 49;
	}
}

static int write_store(const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fputs("{", f);
	for (int i = 0; i < CONTAINERS; i++) {
		struct container *c = &cs[i];
		fprintf(f, "%s\n  \"%s\": {\"handle\": \"%s\", \"ip\": \"%u.%u.%u.%u\", \"metadata\": {", i ? "," : "",
			c->handle, c->handle, c->ip >> 24, (c->ip >> 16) & 255, (c->ip >> 8) & 255, c->ip & 255);
		if (c->task)
			fprintf(f, "\"app_id\": \"%s\", \"container_workload\": \"task\"}}", c->app);
		else
			fprintf(f,
				"\"app_id\": \"%s\", \"space_id\": \"%s\", \"org_id\": \"%s\", "
				"\"policy_group_id\": \"%s\", \"ports\": \"8080\", \"container_workload\": \"app\"}}",
				c->app, c->space, c->org, c->app);
	}
	fputs("\n}\n", f);
	return fclose(f);
}

/* ---- one record ---- */

static uint8_t rec[1024];
static size_t len;

static void put(const void *p, size_t n)
{
	memcpy(rec + len, p, n);
	len += n;
}

static void tlv(uint16_t type, const void *val, uint16_t n)
{
	uint16_t hdr[2] = {(uint16_t)(4 + n), type}; /* host order, as libpcap hands them on */
	put(hdr, 4);
	put(val, n);
	while (len % 4)
		rec[len++] = 0;
}

static void be16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v; }
static void be32(uint8_t *p, uint32_t v) { be16(p, (uint16_t)(v >> 16)), be16(p + 2, (uint16_t)v); }

static uint16_t ip_checksum(const uint8_t *h)
{
	uint32_t sum = 0;
	for (int i = 0; i < 20; i += 2)
		sum += (uint32_t)(h[i] << 8 | h[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* The IPv4 packet as the kernel copies it (at most COPY_RANGE bytes); returns its length. */
static size_t make_packet(uint8_t *p, uint32_t src, uint32_t dst, int proto, uint16_t dport)
{
	size_t l4, total;
	memset(p, 0, COPY_RANGE);
	uint8_t *t = p + 20;
	if (proto == 6) { /* a Linux SYN with MSS, SACK_PERM, TS, NOP, WS */
		static const uint8_t opts[20] = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3, 3, 7};
		be16(t, (uint16_t)(32768 + rnd(28000)));
		be16(t + 2, dport);
		be32(t + 4, (uint32_t)splitmix(&rng_state));
		t[12] = 10 << 4;
		t[13] = 0x02;
		be16(t + 14, 64240);
		memcpy(t + 20, opts, sizeof opts);
		be32(t + 24, (uint32_t)splitmix(&rng_state));
		l4 = total = 40;
	} else if (proto == 17) {
		size_t data = 20 + rnd(200);
		be16(t, (uint16_t)(32768 + rnd(28000)));
		be16(t + 2, dport);
		be16(t + 4, (uint16_t)(8 + data));
		l4 = 8 + data;
		total = l4;
		for (size_t i = 8; i < l4 && 20 + i < COPY_RANGE; i++)
			t[i] = (uint8_t)('a' + i % 26);
	} else { /* ICMP echo request, 56 bytes of data */
		t[0] = 8;
		be16(t + 4, (uint16_t)rnd(65536));
		be16(t + 6, (uint16_t)(1 + rnd(100)));
		l4 = total = 64;
		for (size_t i = 8; i < l4; i++)
			t[i] = (uint8_t)i;
	}
	(void)l4;
	p[0] = 0x45;
	be16(p + 2, (uint16_t)(20 + total));
	be16(p + 4, (uint16_t)rnd(65536));
	p[6] = 0x40; /* DF */
	p[8] = 63;
	p[9] = (uint8_t)proto;
	be32(p + 12, src);
	be32(p + 16, dst);
	be16(p + 10, ip_checksum(p));
	size_t n = 20 + total;
	return n < COPY_RANGE ? n : COPY_RANGE;
}

static const uint32_t externals[] = {0x0a0a0a01, 0x0a0a0a0a, 0x08080808, 0x34d3a1c2, 0xac10010a, 0x0a000001};

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: gen_capture EVENTS CAPTURE.pcap STORE.json\n");
		return 2;
	}
	unsigned long long events = strtoull(argv[1], NULL, 10);
	make_containers();
	if (write_store(argv[3])) {
		perror(argv[3]);
		return 1;
	}
	FILE *f = fopen(argv[2], "wb");
	if (!f) {
		perror(argv[2]);
		return 1;
	}
	static char fbuf[1 << 20];
	setvbuf(f, fbuf, _IOFBF, sizeof fbuf);
	struct {
		uint32_t magic;
		uint16_t major, minor;
		int32_t zone;
		uint32_t sigfigs, snaplen, linktype;
	} gh = {0xa1b2c3d4, 2, 4, 0, 0, 262144, 239};
	fwrite(&gh, sizeof gh, 1, f);

	uint64_t t_us = 1795420800ull * 1000000ull;
	for (unsigned long long e = 0; e < events; e++) {
		t_us += 1 + rnd(9);
		int kind = (int)rnd(100); /* 0-34 c2c ok, 35-49 c2c deny, 50-79 asg ok, 80-94 deny, 95-99 orl */
		struct container *a = &cs[rnd(CONTAINERS)], *b = &cs[rnd(CONTAINERS)];
		if (kind < 35) { /* allowed c2c traffic follows one of the cell's POLICIES policies */
			uint32_t pol = rnd(POLICIES);
			a = &cs[pol % CONTAINERS];
			b = &cs[(pol * 7 + 13 + pol / CONTAINERS * 101) % CONTAINERS];
		}
		char name[64], prefix[30];
		int egress = kind >= 50, r = (int)rnd(100);
		int proto = egress ? (r < 55 ? 6 : r < 82 ? 17 : 1) : (r < 70 ? 6 : r < 80 ? 1 : 17);
		uint16_t dport = egress ? (proto == 6 ? (r % 2 ? 443 : 80) : 53) : 8080;
		uint32_t src = a->ip, dst = egress ? externals[rnd(6)] : b->ip;
		if (kind < 35)
			snprintf(name, sizeof name, "OK_%04x_%s", a->tag, b->app);
		else if (kind < 50)
			snprintf(name, sizeof name, "DENY_C2C_%s", b->handle);
		else if (kind < 80)
			snprintf(name, sizeof name, "OK_%s", a->handle);
		else if (kind < 95)
			snprintf(name, sizeof name, "DENY_%s", a->handle);
		else
			snprintf(name, sizeof name, "DENY_ORL_%s", a->handle);
		snprintf(prefix, sizeof prefix, "%.28s ", name);

		len = 0;
		uint8_t nfgen[4] = {2 /* AF_INET */, 0, 0, 42};
		put(nfgen, 4);
		uint8_t phdr[4] = {0x08, 0x00, 2 /* NF_INET_FORWARD */, 0};
		tlv(1, phdr, 4);
		tlv(10, prefix, (uint16_t)(strlen(prefix) + 1));
		uint8_t v[20];
		be32(v, 10u + (uint32_t)(a - cs));
		tlv(4, v, 4);
		be32(v, egress ? 2u : 10u + (uint32_t)(b - cs));
		tlv(5, v, 4);
		be32(v, a->tag);
		tlv(2, v, 4);
		uint8_t mac_dst[6] = {0xaa, 0xaa}, mac_src[6] = {0xee, 0xee};
		be32(mac_dst + 2, a->ip);
		be32(mac_src + 2, a->ip);
		memset(v, 0, sizeof v);
		be16(v, 6);
		memcpy(v + 4, mac_src, 6);
		tlv(8, v, 12);
		be16(v, 1 /* ARPHRD_ETHER */);
		tlv(15, v, 2);
		be16(v, 14);
		tlv(17, v, 2);
		uint8_t eth[14];
		memcpy(eth, mac_dst, 6);
		memcpy(eth + 6, mac_src, 6);
		eth[12] = 0x08, eth[13] = 0x00;
		tlv(16, eth, 14);
		uint8_t ts[16] = {0};
		be32(ts + 4, (uint32_t)(t_us / 1000000));
		be32(ts + 12, (uint32_t)(t_us % 1000000));
		tlv(3, ts, 16);
		uint8_t pkt[COPY_RANGE];
		size_t n = make_packet(pkt, src, dst, proto, dport);
		tlv(9, pkt, (uint16_t)n);

		uint32_t rh[4] = {(uint32_t)(t_us / 1000000), (uint32_t)(t_us % 1000000), (uint32_t)len,
				  (uint32_t)len};
		fwrite(rh, sizeof rh, 1, f);
		fwrite(rec, len, 1, f);
	}
	if (fclose(f)) {
		perror(argv[2]);
		return 1;
	}
	return 0;
}
