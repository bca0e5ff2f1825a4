// SPDX-License-Identifier: GPL-2.0
/*
 * kpfleet_lp_cmdline: live-patches cmdline_proc_show() (fs/proc/cmdline.c), so that
 * /proc/cmdline reads exactly "kpfleet-livepatched v1\n".
 *
 * .replace = true (atomic replace, kpatch-build's default since 0.9.4; docs/kpatch-behaviour.md
 * §5.3): when its transition completes it retires EVERY older enabled patch, non-replace ones
 * such as kpfleet_lp_version included; its cumulative successor (lp_cmdline_v2.c) retires it
 * in turn. Only the exported seq_puts() is called, so a plain kbuild build needs no klp
 * relocations (§7.1).
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/livepatch.h>
#include <linux/seq_file.h>

/* same signature as the static original in fs/proc/cmdline.c */
static int livepatch_cmdline_proc_show(struct seq_file *m, void *v)
{
	seq_puts(m, "kpfleet-livepatched v1\n");
	return 0;
}

static struct klp_func funcs[] = {
	{ .old_name = "cmdline_proc_show", .new_func = livepatch_cmdline_proc_show },
	{ }
};

static struct klp_object objs[] = {
	{ /* name == NULL: vmlinux */ .funcs = funcs },
	{ }
};

static struct klp_patch patch = {
	.mod = THIS_MODULE,
	.objs = objs,
	.replace = true,
};

static int __init kpfleet_lp_init(void)
{
	return klp_enable_patch(&patch);
}

/* 5.1+: the livepatch core does the teardown; an (empty) exit is what makes rmmod possible */
static void __exit kpfleet_lp_exit(void)
{
}

module_init(kpfleet_lp_init);
module_exit(kpfleet_lp_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
MODULE_DESCRIPTION("kpfleet test livepatch: /proc/cmdline v1 (atomic replace)");
