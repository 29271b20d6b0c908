@echo off
rem ==========================================================================
rem  backup_manager.bat - Windows launcher for backup_manager.py
rem
rem  Double-click it (no arguments) for a menu. With arguments, every argument
rem  goes to backup_manager.py unchanged and its exit code is returned:
rem      backup_manager.bat backup --type daily
rem      backup_manager.bat restore "D:\backups\daily\backup.zip" --confirm
rem
rem  The first run creates the Python environment .venv in this folder and
rem  installs requirements.txt into it; every run then uses .venv's Python.
rem
rem  Exit codes: those of backup_manager.py; 9 = no usable Python 3 found, or
rem  .venv could not be set up (the message says which).
rem  Keep this file ASCII-only with CRLF line endings: cmd.exe misreads
rem  labels and GOTOs in files with bare LF endings.
rem ==========================================================================
setlocal EnableExtensions DisableDelayedExpansion

rem A user variable named ERRORLEVEL would hide the real exit codes.
set "ERRORLEVEL="
rem Taken once, first: the folder of this file, with a trailing backslash.
set "BM_HOME=%~dp0"
set "BM_RC=0"
set "BM_PY="
set "BM_CALL="
set "BM_PUSHED="
set "BM_INTERACTIVE="
if "%~1"=="" set "BM_INTERACTIVE=1"

rem UTF-8 console and I/O, so emoji in the output cannot crash Python even
rem when it is redirected to a file. The old code page is put back at the end.
set "PYTHONUTF8=1"
set "PYTHONIOENCODING=utf-8"
set "BM_OLDCP="
for /f "tokens=2 delims=:." %%C in ('chcp') do for /f %%D in ("%%C") do set "BM_OLDCP=%%D"
chcp 65001 >nul 2>&1

rem pushd rather than cd: it also works across drives and on UNC shares.
rem "(call )" only resets ERRORLEVEL to 0, so the check below sees pushd's.
(call )
pushd "%BM_HOME%" 2>nul
if errorlevel 1 goto :no_home
set "BM_PUSHED=1"
if not exist "backup_manager.py" goto :no_script

rem Everything runs in the project's own Python environment, .venv, made on
rem the first run from the Python found on this computer.
call :use_venv
if defined BM_PY goto :ready
call :find_python
if not defined BM_PY goto :no_python
call :make_venv
if errorlevel 1 goto :no_venv
set "BM_PY=.venv\Scripts\python.exe"
set "BM_CALL="

:ready
if defined BM_INTERACTIVE goto :menu

%BM_CALL% %BM_PY% backup_manager.py %*
set "BM_RC=%ERRORLEVEL%"
goto :finish


rem --------------------------------------------------------------------------
:menu
title Backup Manager
set "BM_EMPTY=0"

:menu_loop
echo.
echo ==================================================
echo   Backup Manager
echo ==================================================
echo   1. Manual backup
echo   2. Emergency backup
echo   3. List backups
echo   4. Backup status
echo   5. Verify all backups
echo   6. Diagnose database
echo   7. Restore from a backup
echo   8. Start scheduler - Ctrl+C stops it
echo   9. Quit - or Q
echo.
set "BM_SEL="
set /p "BM_SEL=Choose an option [1-9, Q]: "
rem Edit a value only once it is known to be defined: a search-and-replace
rem expansion of an undefined variable leaves junk in the line.
if not defined BM_SEL goto :menu_empty
set "BM_SEL=%BM_SEL:"=%"
if not defined BM_SEL goto :menu_empty
set "BM_SEL=%BM_SEL: =%"
if not defined BM_SEL goto :menu_empty
set "BM_EMPTY=0"
if "%BM_SEL%"=="1" goto :opt_manual
if "%BM_SEL%"=="2" goto :opt_emergency
if "%BM_SEL%"=="3" goto :opt_list
if "%BM_SEL%"=="4" goto :opt_status
if "%BM_SEL%"=="5" goto :opt_verify
if "%BM_SEL%"=="6" goto :opt_diagnose
if "%BM_SEL%"=="7" goto :opt_restore
if "%BM_SEL%"=="8" goto :opt_scheduler
if "%BM_SEL%"=="9" goto :menu_quit
if /i "%BM_SEL%"=="Q" goto :menu_quit
echo Unknown choice "%BM_SEL%". Type a number from 1 to 9, or Q.
goto :menu_loop

:menu_empty
rem Enter alone shows the menu again; several empty reads in a row mean
rem standard input has ended, e.g. piped input, so stop instead of looping.
set /a BM_EMPTY+=1
if %BM_EMPTY% GEQ 3 goto :menu_quit
goto :menu_loop

:menu_quit
set "BM_RC=0"
goto :finish

:opt_manual
call :invoke backup --type manual
goto :menu_pause
:opt_emergency
call :invoke backup --type emergency
goto :menu_pause
:opt_list
call :invoke list
goto :menu_pause
:opt_status
call :invoke status
goto :menu_pause
:opt_verify
call :invoke verify --all
goto :menu_pause
:opt_diagnose
call :invoke diagnose
goto :menu_pause
:opt_scheduler
call :invoke scheduler
goto :menu_pause

:opt_restore
set "BM_ARCHIVE="
echo.
echo Tip: you can drag the backup file into this window.
set /p "BM_ARCHIVE=Path of the backup archive to restore: "
if not defined BM_ARCHIVE goto :restore_cancel
set "BM_ARCHIVE=%BM_ARCHIVE:"=%"
:restore_trim_start
if not defined BM_ARCHIVE goto :restore_cancel
if not "%BM_ARCHIVE:~0,1%"==" " goto :restore_trim_end
set "BM_ARCHIVE=%BM_ARCHIVE:~1%"
goto :restore_trim_start
:restore_trim_end
if not "%BM_ARCHIVE:~-1%"==" " goto :restore_preview
set "BM_ARCHIVE=%BM_ARCHIVE:~0,-1%"
if defined BM_ARCHIVE goto :restore_trim_end
goto :restore_cancel

:restore_preview
echo.
echo Checking the archive first - nothing is changed yet:
call :invoke restore "%BM_ARCHIVE%"
echo.
echo Restoring REPLACES the current database with the one in:
echo     "%BM_ARCHIVE%"
set "BM_ANSWER="
set /p "BM_ANSWER=Restore now? [y/N]: "
if not defined BM_ANSWER goto :restore_cancel
set "BM_ANSWER=%BM_ANSWER: =%"
if /i "%BM_ANSWER%"=="y" goto :restore_confirmed
if /i "%BM_ANSWER%"=="yes" goto :restore_confirmed
goto :restore_cancel

:restore_confirmed
call :invoke restore "%BM_ARCHIVE%" --confirm
goto :menu_pause

:restore_cancel
echo Restore cancelled - nothing was changed.
goto :menu_pause

:menu_pause
echo.
pause
goto :menu_loop


rem --------------------------------------------------------------------------
rem  :invoke ARGS... - run backup_manager.py ARGS and show its exit code.
:invoke
echo.
echo ^> backup_manager.py %*
echo.
%BM_CALL% %BM_PY% backup_manager.py %*
set "BM_RC=%ERRORLEVEL%"
echo.
if "%BM_RC%"=="0" (echo Done - exit code 0.) else (echo FAILED - exit code %BM_RC%.)
exit /b %BM_RC%


rem --------------------------------------------------------------------------
rem  :use_venv - set BM_PY to the interpreter of .venv when it is installed
rem  (the marker file is written only after pip succeeded) and starts. A .venv
rem  whose Python no longer starts (Python reinstalled or moved) is rebuilt.
:use_venv
set "BM_PY="
set "BM_CALL="
set "BM_REBUILD="
if not exist ".venv\Scripts\python.exe" exit /b 0
if not exist ".venv\backup-manager-installed.txt" exit /b 0
.venv\Scripts\python.exe -c "import sys; sys.exit(sys.version_info < (3, 10))" >nul 2>&1
if errorlevel 1 goto :use_venv_broken
set "BM_PY=.venv\Scripts\python.exe"
exit /b 0
:use_venv_broken
echo The Python environment in .venv does not start - was Python reinstalled or moved? It is made again now. >&2
set "BM_REBUILD=1"
exit /b 0


rem --------------------------------------------------------------------------
rem  :make_venv - create .venv with BM_PY (unless it exists and works) and
rem  install requirements.txt into it. Messages and pip's output go to stderr,
rem  so that stdout carries only what backup_manager.py prints (--json).
rem  Exit code 0 when done, 1 when it failed (the output says why).
:make_venv
if not exist "requirements.txt" (
    echo requirements.txt is missing from this folder. >&2
    exit /b 1
)
if defined BM_REBUILD goto :make_venv_create
if exist ".venv\Scripts\python.exe" goto :make_venv_install
:make_venv_create
echo First run: creating the Python environment .venv in this folder... >&2
%BM_CALL% %BM_PY% -m venv --clear .venv 1>&2
if errorlevel 1 exit /b 1
if not exist ".venv\Scripts\python.exe" exit /b 1
:make_venv_install
echo Installing the packages of requirements.txt into .venv - this needs the internet once and takes a minute or two... >&2
.venv\Scripts\python.exe -m pip install --disable-pip-version-check -r requirements.txt 1>&2
if errorlevel 1 exit /b 1
> ".venv\backup-manager-installed.txt" echo backup_manager.bat installed requirements.txt here. Delete this file to install it again on the next start.
echo Ready: backup_manager.bat now uses .venv\Scripts\python.exe. >&2
exit /b 0


rem --------------------------------------------------------------------------
rem  :find_python - set BM_PY to "py -3" or "python" if it runs Python 3.10+,
rem  and BM_CALL to the prefix that runs it. "python" may be a .bat shim, as
rem  pyenv-win's is, and a batch file run without CALL never returns here, so
rem  it gets CALL. The py launcher is an .exe and runs without CALL, which
rem  leaves carets and percent signs in arguments alone.
rem  The probes use CALL, in case either name is a batch file.
:find_python
set "BM_PY="
set "BM_CALL="
call py -3 -c "import sys; sys.exit(sys.version_info < (3, 10))" >nul 2>&1
if "%ERRORLEVEL%"=="0" (
    set "BM_PY=py -3"
    exit /b 0
)
rem The Microsoft Store's "python" stand-in fails this check too.
call python -c "import sys; sys.exit(sys.version_info < (3, 10))" >nul 2>&1
if "%ERRORLEVEL%"=="0" (
    set "BM_PY=python"
    set "BM_CALL=call"
    exit /b 0
)
exit /b 1


rem --------------------------------------------------------------------------
:no_venv
(
    echo.
    echo ERROR: could not set up the Python environment .venv in this folder.
    echo.
    echo   The lines above say why. Often pip cannot reach the internet - a proxy
    echo   or a firewall - or this Python was installed without venv and pip.
    echo   Fix that and start backup_manager.bat again: it goes on from where it
    echo   stopped. To start afresh, delete the .venv folder first. By hand:
    echo       py -3 -m venv .venv
    echo       .venv\Scripts\python -m pip install -r requirements.txt
    echo.
) >&2
set "BM_RC=9"
if defined BM_INTERACTIVE pause
goto :finish

:no_python
(
    echo.
    echo ERROR: Python 3 was not found on this computer.
    echo.
    echo   Backup Manager needs Python 3.11 or newer. To install it:
    echo     1. Download Python 3.11+ from https://www.python.org/downloads/
    echo     2. In the installer, tick "Add python.exe to PATH".
    echo     3. Close this window and start backup_manager.bat again.
    echo.
    echo   If typing "python" opens the Microsoft Store, install from python.org.
    echo.
) >&2
set "BM_RC=9"
if defined BM_INTERACTIVE pause
goto :finish

:no_home
(
    echo ERROR: cannot open the folder of this script:
    echo     "%BM_HOME%"
) >&2
set "BM_RC=1"
if defined BM_INTERACTIVE pause
goto :finish

:no_script
(
    echo ERROR: backup_manager.py is missing from this folder:
    echo     "%BM_HOME%"
    echo   Keep backup_manager.bat next to backup_manager.py.
) >&2
set "BM_RC=2"
if defined BM_INTERACTIVE pause
goto :finish


rem --------------------------------------------------------------------------
:finish
if defined BM_PUSHED popd
if defined BM_OLDCP chcp %BM_OLDCP% >nul 2>&1
rem The exit code is expanded before ENDLOCAL runs, so it survives ENDLOCAL.
endlocal & exit /b %BM_RC%
