/* Wine 8 lacks bcryptprimitives.dll, whose ProcessPrng the Rust standard library (and so
 * pydantic-core) calls for random bytes on Windows 10+. This stand-in, for Wine only, forwards
 * to RtlGenRandom (SystemFunction036 in advapi32). Never ship it: real Windows has the DLL.
 * Build: x86_64-w64-mingw32-gcc -shared -o bcryptprimitives.dll bcryptprimitives.c bcryptprimitives.def -ladvapi32 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk)) return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
