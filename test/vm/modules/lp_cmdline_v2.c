// SPDX-License-Identifier: GPL-2.0
/*
 * kpfleet_lp_cmdline_v2: the cumulative successor of kpfleet_lp_cmdline (lp_cmdline.c). It
 * live-patches the same cmdline_proc_show() (fs/proc/cmdline.c), so that /proc/cmdline reads
 * exactly "kpfleet-livepatched v2\n".
 *
 * .replace = true (atomic replace, docs/kpatch-behaviour.md §5.3): when its transition completes,
 * v1 (and every other older enabled patch, kpfleet_lp_version included) is disabled and its
 * sysfs directory vanishes; the v1 module stays resident with refcount 0 until rmmod. Every
 * read of /proc/cmdline sees either v1 or v2 during the transition, never the original text.
 * Only the exported seq_puts() is called (§7.1).
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/livepatch.h>
#include <linux/seq_file.h>

/* same signature as the static original in fs/proc/cmdline.c */
static int livepatch_cmdline_proc_show(struct seq_file *m, void *v)
{
	seq_puts(m, "kpfleet-livepatched v2\n");
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
MODULE_DESCRIPTION("kpfleet test livepatch: /proc/cmdline v2, cumulative successor of v1");
