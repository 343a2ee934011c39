/* A stand-in for jp1notify.exe in .bat tests under Wine: it records what it received
 * (working directory, EVMSG as UTF-8, its arguments) in probe-out.txt in the working directory,
 * and exits with the code in PROBE_EXIT. Built with x86_64-w64-mingw32-gcc -municode. */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <wchar.h>

static void put_utf8(FILE *out, const wchar_t *label, const wchar_t *text) {
    char buffer[65536];
    int n = WideCharToMultiByte(CP_UTF8, 0, text ? text : L"(unset)", -1, buffer, sizeof buffer, NULL, NULL);
    char name[256];
    WideCharToMultiByte(CP_UTF8, 0, label, -1, name, sizeof name, NULL, NULL);
    fprintf(out, "%s=%s\n", name, n > 0 ? buffer : "(unconvertible)");
}

int wmain(int argc, wchar_t **argv) {
    wchar_t cwd[MAX_PATH];
    GetCurrentDirectoryW(MAX_PATH, cwd);
    FILE *out = _wfopen(L"probe-out.txt", L"wb");
    if (!out) return 3;
    put_utf8(out, L"CWD", cwd);
    put_utf8(out, L"EVMSG", _wgetenv(L"EVMSG"));
    fprintf(out, "ARGC=%d\n", argc - 1);
    fclose(out);
    const wchar_t *code = _wgetenv(L"PROBE_EXIT");
    return code ? _wtoi(code) : 0;
}
