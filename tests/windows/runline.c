/* Runs one command line the way a JP1/IM automated action or a JP1/Base local action might:
 * the line (UTF-8 in the file argv[1]) with the event's values already substituted, either
 * through "cmd.exe /c <line>" (argv[2] = cmd) or handed to CreateProcessW as it is (direct).
 * Which of the two JP1 does is unconfirmed (docs/jp1.md), so tests/test_windows_actions.py
 * runs both. The exit code is the command's. Built with mingw-w64 (-municode). */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <wchar.h>

int wmain(int argc, wchar_t **argv) {
    if (argc != 3) return 2;
    FILE *file = _wfopen(argv[1], L"rb");
    if (!file) return 3;
    static char bytes[65536];
    size_t size = fread(bytes, 1, sizeof bytes, file);
    fclose(file);
    int chars = MultiByteToWideChar(CP_UTF8, 0, bytes, (int)size, NULL, 0);
    wchar_t *line = calloc(chars + 16, sizeof(wchar_t));
    MultiByteToWideChar(CP_UTF8, 0, bytes, (int)size, line + 11, chars);
    wchar_t *start = line + 11;
    if (wcscmp(argv[2], L"cmd") == 0) {
        wmemcpy(line, L"cmd.exe /c ", 11);
        start = line;
    }
    STARTUPINFOW startup = {sizeof startup};
    PROCESS_INFORMATION process;
    if (!CreateProcessW(NULL, start, NULL, NULL, TRUE, 0, NULL, NULL, &startup, &process))
        return 4;
    WaitForSingleObject(process.hProcess, INFINITE);
    DWORD code = 5;
    GetExitCodeProcess(process.hProcess, &code);
    return (int)code;
}
