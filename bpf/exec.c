// SPDX-License-Identifier: GPL-2.0
/*
 * The exec verb: run one program in the guest (the kernel's BPF selftests
 * runners) in its own process group, its stdout and stderr to a file, under a
 * deadline after which the whole group is killed. The host reads the output
 * file with the read verb and judges it; the agent reports only how the
 * program ended.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

#define EXEC_MAX_WORDS	256
#define EXEC_DEFAULT_PATH "/bin:/sbin:/usr/bin:/usr/sbin"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Splits a comma-separated list of %XX-encoded words (commas and spaces
 * inside a word are encoded) into words[], decoding in place in a copy.
 * Returns the number of words or -1 on a bad escape or too many words.
 */
static int split_words(const char *list, char **copy, char **words, int max)
{
	char *s, *w, *o;
	int n = 0;

	*copy = strdup(list);
	if (!*copy)
		return -1;
	if (!**copy)
		return 0;
	for (s = *copy;;) {
		if (n == max)
			return -1;
		words[n++] = s;
		for (w = s, o = s; *w && *w != ','; w++) {
			if (*w == '%') {
				int hi = hexval(w[1]), lo = hi < 0 ? -1 : hexval(w[2]);

				if (hi < 0 || lo < 0)
					return -1;
				*o++ = (char)(hi << 4 | lo);
				w += 2;
			} else {
				*o++ = *w;
			}
		}
		if (!*w) {
			*o = '\0';
			return n;
		}
		*o = '\0';
		s = w + 1;
	}
}

/* In the child: never returns. */
static void exec_child(const char *path, char **argv, char **envp,
		       const char *cwd, const char *out)
{
	int fd;

	if (setpgid(0, 0) < 0)
		_exit(126);
	if (cwd && chdir(cwd) < 0) {
		dprintf(2, "bpf-agent exec: chdir %s: %s\n", cwd, strerror(errno));
		_exit(126);
	}
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
		_exit(126);
	fd = open("/dev/null", O_RDONLY);
	if (fd < 0 || dup2(fd, 0) < 0)
		_exit(126);
	/* The agent's channel, maps and owners are not the program's. */
	syscall(SYS_close_range, 3U, ~0U, 0U);
	signal(SIGPIPE, SIG_DFL);
	execve(path, argv, envp);
	dprintf(2, "bpf-agent exec: %s: %s\n", path, strerror(errno));
	_exit(127);
}

/* Waits for pid until deadline_us; true when it ended (status in *st). */
static bool wait_until(pid_t pid, long long deadline_us, int *st)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);

	for (;;) {
		pid_t w = waitpid(pid, st, WNOHANG);
		long long left = deadline_us - mono_us();
		struct pollfd p = { .fd = pidfd, .events = POLLIN };

		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			break;
		if (left <= 0) {
			if (pidfd >= 0)
				close(pidfd);
			return false;
		}
		if (pidfd >= 0)
			poll(&p, 1, (int)(left / 1000 + 1));
		else
			usleep(left < 50000 ? (useconds_t)left : 50000);
	}
	if (pidfd >= 0)
		close(pidfd);
	return true;
}

int verb_exec(struct agent *a, struct req *r)
{
	const char *path = arg_str(r, "path"), *cwd = arg_str(r, "cwd");
	const char *out = arg_str(r, "out"), *args = arg_str(r, "args");
	const char *env = arg_str(r, "env");
	char *argv[EXEC_MAX_WORDS + 2], *envp[EXEC_MAX_WORDS + 2];
	char *args_copy = NULL, *env_copy = NULL;
	unsigned long long timeout_ms;
	int nargs, nenv, st = 0, err = 0, i;
	bool has_path = false, ended;
	long long t0;
	pid_t pid;

	(void)a;
	if (!path || !out)
		return req_fail(r, EINVAL, "missing argument %s", path ? "out" : "path");
	if (arg_u64(r, "timeout", true, 0, 1, 24ULL * 3600 * 1000, &timeout_ms))
		return -1;
	argv[0] = (char *)path;
	nargs = split_words(args ? args : "", &args_copy, argv + 1, EXEC_MAX_WORDS);
	nenv = split_words(env ? env : "", &env_copy, envp, EXEC_MAX_WORDS);
	if (nargs < 0 || nenv < 0) {
		err = req_fail(r, EINVAL, "bad %s: comma-separated %%XX-encoded words, at most %d",
			       nargs < 0 ? "args" : "env", EXEC_MAX_WORDS);
		goto out;
	}
	argv[nargs + 1] = NULL;
	for (i = 0; i < nenv; i++)
		has_path |= !strncmp(envp[i], "PATH=", 5);
	if (!has_path)
		envp[nenv++] = "PATH=" EXEC_DEFAULT_PATH;
	envp[nenv] = NULL;

	t0 = mono_us();
	pid = fork();
	if (pid < 0) {
		err = req_fail(r, errno, "fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0)
		exec_child(path, argv, envp, cwd, out);
	ended = wait_until(pid, t0 + (long long)timeout_ms * 1000, &st);
	/* Whatever the program left behind in its group goes with it. */
	kill(-pid, SIGKILL);
	if (!ended && waitpid(pid, &st, 0) < 0) {
		err = req_fail(r, errno, "waitpid: %s", strerror(errno));
		goto out;
	}
	jf_bool(&r->out, "timedOut", !ended);
	jf_int(&r->out, "status", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	jf_int(&r->out, "signal", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	jf_int(&r->out, "elapsedUs", mono_us() - t0);
out:
	free(args_copy);
	free(env_copy);
	return err;
}
