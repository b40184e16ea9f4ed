// SPDX-License-Identifier: GPL-2.0
/*
 * bpfh_warn: makes the kernel print real bug reports on demand, so that the
 * harness's kernel-log verdict is tested against what a kernel really prints
 * (harness/verdict/kernel-log.ts) and so that a self-test can show a WARN in
 * the code under test's path failing a run.
 *
 * insmod bpfh_warn.ko report=NAME [symbol=FUNC]
 *
 *   kprobe-warn  a kprobe on FUNC (default bpf_local_storage_map_free, whose
 *                real caller is the map-free workqueue) whose handler does
 *                WARN_ON_ONCE: the WARNING comes from the deferred teardown of
 *                the code under test. The module stays loaded (rmmod disarms).
 *   warn         WARN_ON(1) here, at load time
 *   warn-fmt     WARN(1, fmt, ...) here
 *   refcount     a refcount_t underflow
 *   list-del     list_del() of an entry whose neighbour no longer points back
 *   list-add     list_add() between two entries that are not neighbours
 *   int3         an int3 instruction here, with no kprobe or text_poke behind it:
 *                the same `Oops: int3` as the stale breakpoint multi-threaded
 *                TCG sometimes runs after a text_poke_bp() (x86 only); the
 *                insmod process dies and the module never finishes loading
 *
 * Every report but kprobe-warn is made at load time and the load then fails
 * with ECANCELED, so the module can be loaded again for the next report. With
 * CONFIG_BUG_ON_DATA_CORRUPTION (Debian's default) the list reports end in
 * BUG(): the insmod process dies in an oops and the module never finishes
 * loading; use them in a guest that is thrown away afterwards.
 *
 * Built out of tree against the guest kernel's source and configuration
 * (harness/vm/testmod.ts); never loaded on the host.
 */
#include <linux/kprobes.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/refcount.h>
#include <linux/string.h>

static char *report = "kprobe-warn";
module_param(report, charp, 0444);
MODULE_PARM_DESC(report, "which report to make: kprobe-warn, warn, warn-fmt, refcount, list-del, list-add, int3");

static char *symbol = "bpf_local_storage_map_free";
module_param(symbol, charp, 0444);
MODULE_PARM_DESC(symbol, "the function kprobe-warn probes");

static unsigned int hits;

static int bpfh_warn_pre(struct kprobe *p, struct pt_regs *regs)
{
	hits++;
	WARN_ON_ONCE(1);
	return 0;
}

static struct kprobe bpfh_kp = {
	.pre_handler = bpfh_warn_pre,
};

static bool armed;

/* Out of line so that the list checks run on the corrupted entries as given. */
static noinline void bpfh_list_del(struct list_head *entry)
{
	list_del(entry);
}

static noinline void bpfh_list_add(struct list_head *new, struct list_head *head)
{
	list_add(new, head);
}

static int bpfh_report_now(void)
{
	static LIST_HEAD(head);
	static struct list_head a, b, c;
	refcount_t ref = REFCOUNT_INIT(1);

	if (!strcmp(report, "warn")) {
		WARN_ON(1);
	} else if (!strcmp(report, "warn-fmt")) {
		WARN(1, "bpfh_warn: asked for a WARN with a message (report=%s)\n",
		     report);
	} else if (!strcmp(report, "refcount")) {
		/* 1 - 2: refcount_t: underflow; use-after-free. */
		if (refcount_sub_and_test(2, &ref))
			pr_info("bpfh_warn: refcount reached zero\n");
	} else if (!strcmp(report, "list-del")) {
		list_add(&a, &head);
		list_add(&b, &head);
		/* b's successor a no longer points back at b */
		a.prev = &c;
		bpfh_list_del(&b);
	} else if (!strcmp(report, "list-add")) {
		INIT_LIST_HEAD(&head);
		list_add(&a, &head);
		/* a.next is head, so head->prev should be a; make it lie */
		head.prev = &c;
		bpfh_list_add(&b, &a);
	} else if (!strcmp(report, "int3")) {
#ifdef CONFIG_X86
		asm volatile("int3");
#else
		pr_err("bpfh_warn: report=int3 is x86 only\n");
		return -EOPNOTSUPP;
#endif
	} else {
		pr_err("bpfh_warn: unknown report=%s\n", report);
		return -EINVAL;
	}
	return -ECANCELED;
}

static int __init bpfh_warn_init(void)
{
	int err;

	if (strcmp(report, "kprobe-warn"))
		return bpfh_report_now();

	bpfh_kp.symbol_name = symbol;
	err = register_kprobe(&bpfh_kp);
	if (err) {
		pr_err("bpfh_warn: register_kprobe(%s): %d\n", symbol, err);
		return err;
	}
	armed = true;
	pr_info("bpfh_warn: armed: WARN_ON_ONCE when %s runs\n", symbol);
	return 0;
}

static void __exit bpfh_warn_exit(void)
{
	if (!armed)
		return;
	unregister_kprobe(&bpfh_kp);
	pr_info("bpfh_warn: disarmed after %u hits of %s\n", hits, symbol);
}

module_init(bpfh_warn_init);
module_exit(bpfh_warn_exit);
MODULE_DESCRIPTION("bpf-storage-harness: real kernel bug reports on demand");
MODULE_LICENSE("GPL");
