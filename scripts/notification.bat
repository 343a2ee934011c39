@echo off
rem jp1notify launcher for JP1/AJS3 PC jobs. Keep this file ASCII with CRLF line endings.
rem Never mention an event variable in this file: cmd.exe expands percent variables before
rem it parses a line, so event text such as "x & del ..." would run as a command.
rem jp1notify.exe reads its own environment. No delayed expansion either.
rem Work from this folder, whatever the working directory JP1 gives the job.
cd /d "%~dp0"
"%~dp0jp1notify.exe" %*
exit /b %ERRORLEVEL%
