/* dlib_roots.c: a library test_dl_window loads with dlopen; its .bss holds the only
 * pointers to objects the test allocates. */
void *dlib_slot[8];

void dlib_set(int i, void *p) {
    dlib_slot[i] = p;
}

void *dlib_get(int i) {
    return dlib_slot[i];
}
