// SPDX-License-Identifier: GPL-2.0-only
/*
 * macvlan-bpf-cni: the CNI plugin as a runtime executes it, once per call. A pod's ADD must be as quick
 * as the reference Go plugin's, and starting Node.js alone takes longer than that plugin's whole ADD, so
 * this small client hands the call (its CNI_* environment and the configuration on stdin) to the agent
 * over its control socket, where the plugin's code runs (src/cni/plugin.ts), and prints the agent's
 * answer. With no agent listening it runs the same code in its own Node.js process (dist/cni/main.js),
 * with stdin handed on. No policy here: transport only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

#define DEFAULT_PIN_ROOT "/sys/fs/bpf/macvlan-bpf"
#define NETNS_PIN_BASE "/sys/fs/bpf/macvlan-bpf-netns"
#define SOCKET_DIR "/run/macvlan-bpf"

struct buf {
	char *p;
	size_t len, cap;
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		if (!b->p) {
			perror("macvlan-bpf-cni: realloc");
			exit(1);
		}
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

static void puts_(struct buf *b, const char *s) { put(b, s, strlen(s)); }

/* A JSON string literal of s. */
static void json_str(struct buf *b, const char *s, size_t n)
{
	put(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			put(b, esc, 2);
		} else if (c < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			put(b, esc, 6);
		} else {
			put(b, (const char *)&c, 1);
		}
	}
	put(b, "\"", 1);
}

/* The same choice of socket as socketPathFor(pinRootFromEnv()) in src/agent/control-socket.ts. */
static void socket_path(char *out, size_t n)
{
	const char *s = getenv("MACVLAN_BPF_SOCKET");
	if (s && *s) {
		snprintf(out, n, "%s", s);
		return;
	}
	const char *pin = getenv("MACVLAN_BPF_PIN_ROOT");
	if (pin && *pin) {
		char a[PATH_MAX], b[PATH_MAX];
		snprintf(a, sizeof(a), "%s", pin);
		snprintf(b, sizeof(b), "%s", pin);
		if (!strcmp(pin, DEFAULT_PIN_ROOT))
			snprintf(out, n, SOCKET_DIR "/agent.sock");
		else if (!strcmp(dirname(a), NETNS_PIN_BASE))
			snprintf(out, n, SOCKET_DIR "/netns-%s.sock", basename(b));
		else
			snprintf(out, n, SOCKET_DIR "/%s.sock", basename(b));
		return;
	}
	/* This netns's default instance: the initial netns's, or the one named by this netns's cookie. */
	struct stat self, init;
	char comm[32] = "";
	FILE *f = fopen("/proc/2/comm", "r");
	if (f) {
		if (!fgets(comm, sizeof(comm), f)) comm[0] = 0;
		fclose(f);
	}
	const char *initp = !strncmp(comm, "kthreadd", 8) ? "/proc/2/ns/net" : "/proc/1/ns/net";
	if (stat("/proc/thread-self/ns/net", &self) || stat(initp, &init) || self.st_ino == init.st_ino) {
		snprintf(out, n, SOCKET_DIR "/agent.sock");
		return;
	}
	uint64_t cookie = 0;
	socklen_t len = sizeof(cookie);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len)) cookie = 0;
	if (fd >= 0) close(fd);
	snprintf(out, n, SOCKET_DIR "/netns-%llu.sock", (unsigned long long)cookie);
}

/* Reads a JSON string value starting at p (just after its opening quote) into out; returns the end. */
static const char *json_unstr(const char *p, struct buf *out)
{
	while (*p && *p != '"') {
		if (*p != '\\') {
			put(out, p++, 1);
			continue;
		}
		p++;
		char c = *p++;
		switch (c) {
		case 'n': put(out, "\n", 1); break;
		case 't': put(out, "\t", 1); break;
		case 'r': put(out, "\r", 1); break;
		case 'b': put(out, "\b", 1); break;
		case 'f': put(out, "\f", 1); break;
		case 'u': {
			unsigned v = 0;
			for (int i = 0; i < 4 && *p; i++, p++) v = v * 16 + (unsigned)(*p <= '9' ? *p - '0' : (*p | 0x20) - 'a' + 10);
			char u[4];
			int k = 0;
			if (v < 0x80) u[k++] = (char)v;
			else if (v < 0x800) { u[k++] = (char)(0xc0 | v >> 6); u[k++] = (char)(0x80 | (v & 0x3f)); }
			else { u[k++] = (char)(0xe0 | v >> 12); u[k++] = (char)(0x80 | ((v >> 6) & 0x3f)); u[k++] = (char)(0x80 | (v & 0x3f)); }
			put(out, u, (size_t)k);
			break;
		}
		default: put(out, &c, 1);
		}
	}
	return p;
}

/* Runs the plugin in Node.js (no agent): dist/cni/main.js beside this binary, stdin handed on. */
static int fallback(const char *config, size_t len)
{
	char exe[PATH_MAX], home[PATH_MAX], script[PATH_MAX + 32], node[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0) {
		perror("macvlan-bpf-cni: readlink /proc/self/exe");
		return 1;
	}
	exe[n] = 0;
	snprintf(home, sizeof(home), "%s", dirname(dirname(exe))); /* <home>/bin/macvlan-bpf-cni */
	snprintf(script, sizeof(script), "%s/dist/cni/main.js", home);
	snprintf(node, sizeof(node), "%s/node", home); /* the runtime the Kubernetes install puts beside it */
	int fd = memfd_create("cni-config", MFD_CLOEXEC);
	if (fd < 0 || write(fd, config, len) != (ssize_t)len || lseek(fd, 0, SEEK_SET) || dup2(fd, 0) < 0) {
		perror("macvlan-bpf-cni: handing on stdin");
		return 1;
	}
	if (access(node, X_OK) == 0) execl(node, node, script, (char *)NULL);
	execlp("node", "node", script, (char *)NULL);
	printf("{\"code\": 5, \"msg\": \"no macvlan-bpf agent listens, and Node.js (node) cannot be run for the plugin: %s\"}\n", strerror(errno));
	return 1;
}

int main(void)
{
	struct buf config = {0}, req = {0}, resp = {0};
	char chunk[65536];
	ssize_t n;
	while ((n = read(0, chunk, sizeof(chunk))) > 0) put(&config, chunk, (size_t)n);
	if (!config.p) put(&config, "", 0);

	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	socket_path(path, sizeof(path));
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memcpy(sa.sun_path, path, sizeof(sa.sun_path));
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) return fallback(config.p, config.len);

	static const char *vars[] = {"CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH"};
	puts_(&req, "{\"v\":1,\"cni\":{\"env\":{");
	int first = 1;
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *v = getenv(vars[i]);
		if (!v) continue;
		if (!first) puts_(&req, ",");
		first = 0;
		json_str(&req, vars[i], strlen(vars[i]));
		puts_(&req, ":");
		json_str(&req, v, strlen(v));
	}
	puts_(&req, "},\"config\":");
	json_str(&req, config.p, config.len);
	puts_(&req, "}}\n");
	for (size_t off = 0; off < req.len;) {
		ssize_t w = write(fd, req.p + off, req.len - off);
		if (w < 0) {
			if (errno == EINTR) continue;
			return fallback(config.p, config.len);
		}
		off += (size_t)w;
	}
	while ((n = read(fd, chunk, sizeof(chunk))) > 0) put(&resp, chunk, (size_t)n);
	close(fd);
	if (!resp.p) return fallback(config.p, config.len); /* the agent went away mid-call */

	/* { "code": N, "stdout": "...", "stderr": "..." } */
	int code = 1;
	const char *c = strstr(resp.p, "\"code\":");
	if (c) code = atoi(c + 7);
	for (int k = 0; k < 2; k++) {
		const char *key = k ? "\"stderr\":\"" : "\"stdout\":\"";
		const char *s = strstr(resp.p, key);
		if (!s) continue;
		struct buf out = {0};
		json_unstr(s + strlen(key), &out);
		if (out.p) fputs(out.p, k ? stderr : stdout);
		free(out.p);
	}
	return code;
}
