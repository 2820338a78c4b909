/*
 * thread.h -- luamig's helper threads (the lease heartbeat, the script
 * reader): started with every signal blocked, so that signals (Ctrl-C's
 * handler, lua_sys.c) stay the Lua thread's.
 */
#ifndef LUAMIG_THREAD_H
#define LUAMIG_THREAD_H

#include <pthread.h>

/* pthread_create's result. */
int lm_thread_start(pthread_t *thread, void *(*fn)(void *), void *arg);

#endif
