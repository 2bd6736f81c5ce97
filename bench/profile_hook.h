/* profile_hook.h - force-included (-include) when compiling a generated model
 * for bench/profile.sh: every layer end calls bench_layer_hook(), which
 * bench/harness.c (built with -DCNNC_PROFILE) defines. */
void bench_layer_hook(int index, const char *name);
#define CNNC_LAYER_HOOK(index, name) bench_layer_hook(index, name)
