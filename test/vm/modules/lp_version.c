// SPDX-License-Identifier: GPL-2.0
/*
 * kpfleet_lp_version: live-patches version_proc_show() (fs/proc/version.c), so that
 * /proc/version reads exactly "kpfleet-livepatched version\n".
 *
 * .replace = false: it stacks on whatever is enabled and retires nothing (docs/kpatch-behaviour.md
 * §5.3). Caveat (6.1 semantics, Documentation/livepatch/cumulative-patches.rst): a LATER
 * .replace = true patch (kpfleet_lp_cmdline or _v2) retires EVERY older patch, this one
 * included, and /proc/version reverts; so enable it after any replace patch.
 * Only the exported seq_puts() is called (§7.1).
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/livepatch.h>
#include <linux/seq_file.h>

/* same signature as the static original in fs/proc/version.c */
static int livepatch_version_proc_show(struct seq_file *m, void *v)
{
	seq_puts(m, "kpfleet-livepatched version\n");
	return 0;
}

static struct klp_func funcs[] = {
	{ .old_name = "version_proc_show", .new_func = livepatch_version_proc_show },
	{ }
};

static struct klp_object objs[] = {
	{ /* name == NULL: vmlinux */ .funcs = funcs },
	{ }
};

static struct klp_patch patch = {
	.mod = THIS_MODULE,
	.objs = objs,
	.replace = false,
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
MODULE_DESCRIPTION("kpfleet test livepatch: /proc/version (stacks, no replace)");
