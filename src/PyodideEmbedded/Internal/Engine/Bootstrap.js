// Boots Pyodide inside a bare V8 isolate and returns the one function the host calls.
//
// The host's side of every crossing (the calls, file errors, envelope keys, shared names) is declared
// in Internal/Protocol/SandboxProtocol.cs and arrives here as config.protocol: `dispatch` (in start)
// serves each call, `envelope` writes every run's answer.
//
// Everything on globalThis is reachable from Python (`import js`, or the Function constructor), so
// the host bridges (`assets`, `entropy`, `functions`) are never stored on a global or on any object reachable
// from one: they live only in this closure. Globals defined here are plain JS and harmless.
(function (assets, entropy, config, functions) {
  'use strict';
  const g = globalThis;
  const assetPrefix = '/pyodide/';
  // Untrusted code may later replace any global or prototype method; what runs after it uses the
  // originals captured here. (The host re-checks the result anyway: see ResultEnvelope.)
  const { stringify } = JSON;
  const { min, max } = Math;
  const ArrayBufferOf = ArrayBuffer;
  const Uint8ArrayOf = Uint8Array;
  const isView = ArrayBuffer.isView;
  const typedArraySet = Object.getPrototypeOf(Int8Array.prototype).set;
  const { calls, fileErrors, keys: K, names } = JSON.parse(config.protocol);
  // A bridge refusing bad arguments must not tell script about .NET types: say only what failed.
  function callBridge(what, call) {
    try { return call(); } catch { throw new Error(what + ' failed'); }
  }

  // --- What a bare V8 lacks and Pyodide needs -------------------------------------------------
  // console: Pyodide logs warnings; keep them (bounded) for boot diagnostics, never print them.
  const bootLog = [];
  // Never throws: it logs values that untrusted code made (an error whose toString throws, say).
  const log = (...args) => {
    try {
      if (bootLog.length < 200) bootLog.push(args.map(String).join(' ').slice(0, 2000));
    } catch { /* unprintable: dropped */ }
  };
  g.console = { log, info: log, warn: log, error: log, debug: log, trace: log };

  class TextEncoder {
    get encoding() { return 'utf-8'; }
    encode(input = '') {
      const s = String(input);
      const out = new Uint8Array(s.length * 3);
      return out.subarray(0, this.encodeInto(s, out).written);
    }
    encodeInto(input, dest) {
      const s = String(input);
      let read = 0, written = 0;
      for (let i = 0; i < s.length; i++) {
        let c = s.charCodeAt(i);
        let units = 1;
        if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
          const d = s.charCodeAt(i + 1);
          if (d >= 0xdc00 && d <= 0xdfff) { c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00); units = 2; }
        }
        if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd; // lone surrogate
        const size = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
        if (written + size > dest.length) break;
        if (size === 1) dest[written++] = c;
        else if (size === 2) { dest[written++] = 0xc0 | (c >> 6); dest[written++] = 0x80 | (c & 63); }
        else if (size === 3) { dest[written++] = 0xe0 | (c >> 12); dest[written++] = 0x80 | ((c >> 6) & 63); dest[written++] = 0x80 | (c & 63); }
        else { dest[written++] = 0xf0 | (c >> 18); dest[written++] = 0x80 | ((c >> 12) & 63); dest[written++] = 0x80 | ((c >> 6) & 63); dest[written++] = 0x80 | (c & 63); }
        read += units;
        i += units - 1;
      }
      return { read, written };
    }
  }

  // Pyodide asks for utf-8, latin1 and utf-16le decoders.
  class TextDecoder {
    constructor(label = 'utf-8', options = {}) {
      const name = String(label).toLowerCase();
      this._kind = /^(utf-?8|unicode-1-1-utf-8)$/.test(name) ? 'utf-8'
        : /^(latin1|iso-8859-1|ascii|us-ascii|windows-1252)$/.test(name) ? 'latin1'
          : /^utf-?16(le)?$/.test(name) ? 'utf-16le' : null;
      if (this._kind === null) throw new RangeError('The encoding label provided (' + name + ') is not supported');
      this.fatal = !!options.fatal;
      this.ignoreBOM = !!options.ignoreBOM;
    }
    get encoding() { return this._kind === 'latin1' ? 'windows-1252' : this._kind; }
    decode(input) {
      if (input === undefined) return '';
      const bytes = input instanceof Uint8Array ? input
        : ArrayBuffer.isView(input) ? new Uint8Array(input.buffer, input.byteOffset, input.byteLength)
          : new Uint8Array(input);
      if (this._kind === 'latin1') return decodeUnits(bytes.length, (i) => bytes[i]);
      if (this._kind === 'utf-16le') {
        const units = bytes.length >> 1;
        const start = !this.ignoreBOM && units > 0 && bytes[0] === 0xff && bytes[1] === 0xfe ? 1 : 0;
        return decodeUnits(units - start, (i) => bytes[2 * (i + start)] | (bytes[2 * (i + start) + 1] << 8));
      }
      return this._decodeUtf8(!this.ignoreBOM && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? bytes.subarray(3) : bytes);
    }
    _decodeUtf8(bytes) {
      const parts = [];
      let units = [];
      const flush = () => { parts.push(String.fromCharCode.apply(null, units)); units = []; };
      for (let i = 0; i < bytes.length;) {
        const b = bytes[i];
        let c = 0xfffd, n = 1;
        if (b < 0x80) { c = b; }
        else if (b >= 0xc2 && b < 0xe0 && i + 1 < bytes.length && (bytes[i + 1] & 0xc0) === 0x80) {
          c = ((b & 31) << 6) | (bytes[i + 1] & 63); n = 2;
        } else if (b >= 0xe0 && b < 0xf0 && i + 2 < bytes.length && (bytes[i + 1] & 0xc0) === 0x80 && (bytes[i + 2] & 0xc0) === 0x80) {
          const v = ((b & 15) << 12) | ((bytes[i + 1] & 63) << 6) | (bytes[i + 2] & 63);
          if (v >= 0x800 && (v < 0xd800 || v > 0xdfff)) { c = v; n = 3; }
        } else if (b >= 0xf0 && b < 0xf5 && i + 3 < bytes.length && (bytes[i + 1] & 0xc0) === 0x80 && (bytes[i + 2] & 0xc0) === 0x80 && (bytes[i + 3] & 0xc0) === 0x80) {
          const v = ((b & 7) << 18) | ((bytes[i + 1] & 63) << 12) | ((bytes[i + 2] & 63) << 6) | (bytes[i + 3] & 63);
          if (v >= 0x10000 && v <= 0x10ffff) { c = v; n = 4; }
        }
        if (c === 0xfffd && n === 1 && b >= 0x80 && this.fatal) throw new TypeError('The encoded data was not valid utf-8');
        if (c >= 0x10000) { c -= 0x10000; units.push(0xd800 + (c >> 10), 0xdc00 + (c & 1023)); }
        else units.push(c);
        if (units.length >= 8192) flush();
        i += n;
      }
      flush();
      return parts.join('');
    }
  }
  function decodeUnits(count, unitAt) {
    const parts = [];
    for (let start = 0; start < count; start += 8192) {
      const end = Math.min(count, start + 8192);
      const units = new Array(end - start);
      for (let i = start; i < end; i++) units[i - start] = unitAt(i);
      parts.push(String.fromCharCode.apply(null, units));
    }
    return parts.join('');
  }
  // ClearScript's AddPerformanceObject defines `Performance`; Emscripten's clock wants `performance`.
  // Its `sleep` would block the isolate's thread in native code, out of reach of the time limit:
  // keep only `now`, and remove the original.
  const hostPerformance = g.Performance;
  const now = () => hostPerformance.now();
  g.performance = { now, timeOrigin: hostPerformance.timeOrigin };
  delete g.Performance;
  // An exception escaping a FinalizationRegistry callback is printed by V8's default message reporter
  // on the process's stdout, with text the script chose (a forged reply line, in a JSON-lines server).
  // Pyodide's own PyProxy finalizer throws one (NoGilError) in a sandbox stopped mid-run. So every
  // cleanup callback runs inside a catch, and the original constructor is unreachable: the wrapper is a
  // plain function (a class that `extends` it would hand it out as its prototype), and the original
  // prototype loses its `constructor`. Nothing else in the realm runs script outside a host call.
  const HostFinalizationRegistry = FinalizationRegistry;
  const hostRegistryPrototype = HostFinalizationRegistry.prototype;
  const construct = Reflect.construct;
  function SandboxFinalizationRegistry(cleanup) {
    if (new.target === undefined) throw new TypeError("Constructor FinalizationRegistry requires 'new'");
    if (typeof cleanup !== 'function') throw new TypeError('FinalizationRegistry: cleanup must be callable');
    const guarded = (held) => { try { cleanup(held); } catch { log('a finalizer failed'); } };
    return construct(HostFinalizationRegistry, [guarded], new.target);
  }
  SandboxFinalizationRegistry.prototype = hostRegistryPrototype;
  delete hostRegistryPrototype.constructor;
  Object.defineProperty(hostRegistryPrototype, 'constructor', { value: SandboxFinalizationRegistry, writable: true, configurable: true });
  Object.defineProperty(SandboxFinalizationRegistry, 'name', { value: 'FinalizationRegistry' });
  g.FinalizationRegistry = SandboxFinalizationRegistry;
  g.TextEncoder = TextEncoder;
  // No JSPI (WebAssembly stack switching): with it Pyodide runs coroutines on secondary stacks, and V8 aborted the
  // whole process on them ("Check failed: thread_local_top->secondary_stack_sp_ != 0") when a continuation or an
  // isolate's disposal came on another thread than the suspension, as ClearScript's tasks and our pool's resets do.
  // Without it Pyodide takes its portable path: asyncio and top-level await work the same; only pyodide.ffi.run_sync
  // (which needs JavaScript interop) is unavailable.
  delete g.WebAssembly.Suspending;
  delete g.WebAssembly.promising;
  g.TextDecoder = TextDecoder;

  function fillRandom(view) {
    if (!isView(view) || view.byteLength > 65536) throw new TypeError('getRandomValues expects an integer typed array of at most 65536 bytes');
    const random = new ArrayBufferOf(view.byteLength);
    callBridge('getRandomValues', () => entropy.Fill(random));
    new Uint8ArrayOf(view.buffer, view.byteOffset, view.byteLength).set(new Uint8ArrayOf(random));
    return view;
  }
  g.crypto = { getRandomValues: fillRandom };

  // Emscripten's shell mode reads random bytes by running `head -cN /dev/urandom | base64` through
  // os.system. Answer exactly that request from the host's CSPRNG; run nothing, ever.
  g.os = {
    system(command, args) {
      const m = command === 'sh' && Array.isArray(args) && args.length === 2 && args[0] === '-c'
        && /^head -c(\d{1,5}) \/dev\/urandom \| base64 --wrap=0$/.exec(String(args[1]));
      if (!m || Number(m[1]) > 65536) throw new Error('os.system is not available in this sandbox');
      return callBridge('os.system', () => entropy.Base64(Number(m[1])));
    },
  };

  // Timers: a queue that the host drives (see `poll`), so asyncio's call_later works without a
  // browser event loop. Emscripten would otherwise run every setTimeout callback immediately.
  const timers = new Map();
  let nextTimerId = 1;
  g.setTimeout = (callback, delay = 0, ...args) => {
    const id = nextTimerId++;
    timers.set(id, { due: now() + max(0, Number(delay) || 0), callback, args });
    return id;
  };
  g.clearTimeout = (id) => { timers.delete(id); };
  // Runs the timers that are due; returns ms until the next one, or -1 when none is left.
  function runDueTimers() {
    const time = now();
    for (const [id, timer] of [...timers]) {
      if (timer.due <= time && timers.delete(id)) {
        try { timer.callback(...timer.args); } catch (e) { log('timer callback failed: ' + e); }
      }
    }
    let next = Infinity;
    for (const timer of timers.values()) next = min(next, timer.due);
    return next === Infinity ? -1 : max(0, next - now());
  }

  // --- Locked loader: only the verified assets, by plain name under /pyodide/ ------------------
  function assetName(path) {
    let p = String(path);
    if (p.startsWith('file://')) p = p.slice(7);
    const name = p.startsWith(assetPrefix) ? p.slice(assetPrefix.length) : '';
    if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(name) || name.includes('..')) {
      throw new Error('Access denied: the sandbox can read only its own Pyodide assets');
    }
    return name;
  }
  function readbuffer(path) {
    if (assets === null) throw new Error('Access denied: the sandbox can read only its own Pyodide assets');
    const name = assetName(path);
    const buffer = new ArrayBufferOf(callBridge('readbuffer', () => assets.Size(name)));
    callBridge('readbuffer', () => assets.CopyTo(name, buffer));
    return buffer;
  }
  function read(path, mode) {
    const buffer = readbuffer(path);
    return mode === 'binary' ? new Uint8Array(buffer) : new TextDecoder().decode(buffer);
  }
  // Pyodide picks its shell code path when `read` and `load` are functions.
  g.read = read;
  g.readbuffer = readbuffer;
  g.load = function load() { throw new Error('load() is not available in this sandbox'); };

  // --- Per-run output capture, capped ----------------------------------------------------------
  function makeSink() {
    const sink = {
      chunks: [], bytes: 0, truncated: false,
      write(buffer) {
        const room = config.maxOutputBytes - sink.bytes;
        const take = min(room, buffer.length);
        if (take > 0) { sink.chunks.push(buffer.slice(0, take)); sink.bytes += take; }
        if (take < buffer.length) sink.truncated = true;
        return buffer.length; // Python must believe every byte was written
      },
      reset() { sink.chunks = []; sink.bytes = 0; sink.truncated = false; },
      text() {
        if (sink.chunks.length === 0) return '';
        const all = new Uint8Array(sink.bytes);
        let at = 0;
        for (const c of sink.chunks) { all.set(c, at); at += c.length; }
        return new TextDecoder().decode(all);
      },
    };
    return sink;
  }
  const stdout = makeSink();
  const stderr = makeSink();

  // Two ways to start. A template boots Python from scratch, imports what the runner needs and
  // hands the host an image of its memory (Pyodide's memory snapshot); it never runs user code.
  // A sandbox restores such an image, which skips CPython's start-up and most imports.
  async function boot() {
    const { loadPyodide } = await import(assetPrefix + 'pyodide.mjs');
    const image = config.restoreSnapshot ? snapshotBytes() : undefined;
    const load = () => loadPyodide({
      indexURL: assetPrefix,
      lockFileContents: JSON.parse(callBridge('read', () => assets.Text('pyodide-lock.json'))),
      // The host's environment never enters the sandbox.
      env: { HOME: '/home/pyodide', LANG: 'C.UTF-8' },
      jsglobals: config.allowJsInterop ? globalThis : Object.create(null),
      fullStdLib: false,
      checkAPIVersion: true,
      _makeSnapshot: !!config.makeSnapshot,
      _loadSnapshot: image,
    });
    // Pyodide instantiates its wasm module with the asynchronous API, whose result arrives as a V8
    // task that ClearScript runs on the .NET thread pool, and the rest of the boot with it. With the
    // bytes in hand, the synchronous API does the same work at once, so the whole boot finishes
    // inside the host's one call, on the sandbox's own thread (V8 reuses the compiled module).
    const wasm = g.WebAssembly;
    const hostInstantiate = wasm.instantiate;
    wasm.instantiate = function instantiate(source, imports) {
      watchMemoryGrowth(imports);
      guardImports(imports);
      if (!(source instanceof ArrayBufferOf || isView(source))) return hostInstantiate.call(wasm, source, imports);
      const module = new wasm.Module(source);
      mainInstance = new wasm.Instance(module, imports);
      return Promise.resolve({ module, instance: mainInstance });
    };
    let pyodide;
    try {
      pyodide = image ? await restoring(image, load) : await load();
    } finally {
      wasm.instantiate = hostInstantiate;
    }
    if (config.makeSnapshot) {
      const preload = pyodide.globals.get('dict')();
      pyodide.runPython(config.preloadSource, { globals: preload, filename: names.runnerFile });
      preload.get('load_runner')(config.runnerSource, config.protocol);
      return { snapshot: pyodide.makeMemorySnapshot(), version: pyodide.version };
    }
    return start(pyodide);
  }
  // Python's memory is WebAssembly memory whose maximum the host set (WasmMemoryLimit); Emscripten asks
  // for more through this import. A refusal during a run means the memory limit, not the code, raised
  // the run's MemoryError (the host reports SandboxLimit.Memory only then).
  let memoryRefused = false;
  function watchMemoryGrowth(imports) {
    const env = imports && imports.env;
    const resize = env && env.emscripten_resize_heap;
    if (typeof resize !== 'function') return;
    env.emscripten_resize_heap = function emscripten_resize_heap(size) {
      const grown = resize(size);
      if (!grown) memoryRefused = true;
      return grown;
    };
  }

  // --- Recycling (PythonSandbox.ResetAsync): did anything reach past what a reset restores? ------
  // A reset restores Python's memory, the file system's tree and this file's per-run state; it cannot
  // restore the rest of the realm (Pyodide's JavaScript objects, the function table, the realm's
  // globals). WebAssembly reaches the realm only through its imports, so every import call is watched
  // from the boot on: the ones below touch nothing a reset does not put back, whatever their arguments
  // (clocks, entropy, the interrupt check, memory growth, output, files: see `restoreFiles`); the runner's
  // own crossings (its arguments in, its result out) have a fixed budget per host call; any other call
  // (the `js` module, ctypes, asyncio's event loop, host functions, stdin, loading a library, chmod)
  // marks the sandbox `touched`, and its reset then starts a new isolate instead. SECURITY.md says what
  // this covers.
  let mainInstance = null;
  let touched = false;
  let touchedBy = '';
  let neverRecycle = false;
  function touch(why, forever = false) {
    if (!touched) touchedBy = why;
    touched = true;
    if (forever) neverRecycle = true;
  }
  let fs = null; // Pyodide's FS, once booted: the file checks below need it
  const untouching = new Set([
    '_Py_CheckEmscriptenSignals_Helper', 'random_get', 'clock_time_get', 'clock_res_get', 'can_run_sync_js',
    // Only throws: the finalizer of a proxy the start made calls it when V8 collects that proxy while Python
    // does not hold its lock (during a write, say); the finalizer then gives up, and nothing changes.
    'throw_no_gil',
    'emscripten_date_now', 'emscripten_get_now', 'emscripten_get_heap_max', 'emscripten_resize_heap',
    '_tzset_js', '_localtime_js', '_gmtime_js', '_mktime_js', '_timegm_js',
    // Files: the reset puts the file system's tree back (or refuses), closes descriptors from 3 up and
    // returns to the started folder; the started files are read-only, so their bytes cannot change.
    '__syscall_stat64', '__syscall_lstat64', '__syscall_fstat64', '__syscall_newfstatat', 'fd_fdstat_get',
    '__syscall_getcwd', '__syscall_readlinkat', '__syscall_faccessat', '__syscall_statfs64', '__syscall_fstatfs64',
    '__syscall_openat', '__syscall_mkdirat', '__syscall_unlinkat', '__syscall_rmdir', '__syscall_renameat',
    '__syscall_symlinkat', '__syscall_utimensat', '__syscall_truncate64', '__syscall_ftruncate64',
    '__syscall_fallocate', '__syscall_fadvise64', '__syscall_fdatasync', 'fd_sync', '__syscall_chdir',
    '__syscall_fchdir', '__syscall_dup', '__syscall_dup3',
  ]);
  // The runner's crossings: each counter is one kind of call, budgeted per host call below.
  const glue = {
    JsvArray_Get: 0, js2python_js: 1, JsvError_Check: 2, JsvNoValue_Check: 3,
    _python2js_ascii: 4, _python2js_ucs1: 4, _python2js_ucs2: 4, _python2js_ucs4: 4,
  };
  const glueCalls = [0, 0, 0, 0, 0];
  // A stream on a regular file or a folder, opened by the code (descriptor 3 up), or on one of the stateless
  // devices (/dev/null, /dev/random, /dev/urandom): never a terminal.
  let statelessDevices = [];
  function onAFile(fd) {
    if (fs === null || !(fd >= 3)) return false;
    const stream = fs.getStream(fd);
    return !!stream && (fs.isFile(stream.node.mode) || fs.isDir(stream.node.mode) || statelessDevices.includes(stream.node));
  }
  const checked = {
    fd_write: (fd) => fd === 1 || fd === 2 || onAFile(fd), // 1 and 2: the run's output sinks, emptied at each run
    fd_pwrite: onAFile,
    fd_read: onAFile,
    fd_pread: onAFile,
    fd_seek: onAFile,
    fd_close: (fd) => fd >= 3,
    __syscall_getdents64: onAFile,
    __syscall_fcntl64: (fd) => fd >= 3,
  };
  function guardImports(imports) {
    const seen = new Set();
    for (const space of Object.values(imports)) {
      if (!space || typeof space !== 'object' || seen.has(space)) continue;
      seen.add(space);
      for (const name of Object.keys(space)) {
        const original = space[name];
        if (typeof original !== 'function') {
          // Not a plain function: a Global, the memory, or something whose calls cannot be watched (a JSPI
          // wrapper, were JSPI not removed above), which stops every reset in place.
          const known = original instanceof wasmApi.Global || original instanceof wasmApi.Memory || original instanceof wasmApi.Table;
          if (!known && typeof original === 'object' && original !== null) touch('the import ' + name + ' cannot be watched', true);
          continue;
        }
        if (untouching.has(name)) continue;
        const counter = glue[name];
        const check = checked[name];
        const why = 'the code called ' + name;
        space[name] = counter !== undefined
          ? function (...args) { glueCalls[counter]++; return original.apply(this, args); }
          : check !== undefined
            ? function (...args) { if (!check(...args)) touch(why); return original.apply(this, args); }
            : function (...args) { touch(why); return original.apply(this, args); };
      }
    }
  }
  const wasmApi = g.WebAssembly;

  // The image is as large as Python's memory at the time it was taken (~30 MiB), half of it zeros.
  // Pyodide would copy all of it twice (into a buffer, then into the new wasm memory), and on a
  // virtual machine every fresh page costs a fault. So the buffer handed to Pyodide holds only the
  // image's header, and Pyodide's copy into wasm memory (an Int8Array `set` during the load) is
  // replaced by the host (MemoryImage.RestoreInto): on Linux it maps the image copy-on-write over that
  // memory, elsewhere it writes the non-zero pages straight into it.
  function snapshotBytes() {
    const size = callBridge('snapshot', () => assets.SnapshotSize());
    const image = new Uint8ArrayOf(new ArrayBufferOf(size));
    callBridge('snapshot', () => assets.CopySnapshotHeader(image.buffer));
    return image;
  }
  async function restoring(image, load) {
    const proto = Int8Array.prototype;
    let restored = false;
    proto.set = function set(source, offset) {
      if (source instanceof Uint8ArrayOf && source.buffer === image.buffer && !offset && this.byteOffset === 0) {
        callBridge('snapshot', () => assets.RestoreSnapshot(this.buffer, source.byteOffset));
        restored = true;
        return undefined;
      }
      return typedArraySet.call(this, source, offset);
    };
    try {
      const pyodide = await load();
      if (!restored) throw new Error('Pyodide did not restore the memory image');
      return pyodide;
    } finally {
      delete proto.set;
    }
  }

  // --- Files in and out, globals and packages, driven by the host between runs -----------------
  // Paths arrive already checked by the host (SandboxPath). Here each component is looked up
  // without following symbolic links, so a link planted by earlier code cannot turn a write under
  // /data into one under /lib. A failure is a FileError number (and a size); the host writes the
  // messages. Code in the sandbox can replace anything used here, so the host re-checks what comes
  // back (types, ranges, sizes).
  function makeIo(pyodide, runnerNamespace) {
    const FS = pyodide.FS;
    const ENOSPC = 51;
    const byErrno = { 44: fileErrors.notFound, 54: fileErrors.notFolder, 31: fileErrors.isFolder, 2: fileErrors.accessDenied, 63: fileErrors.accessDenied, 51: fileErrors.noSpace };
    const stageGlobals = runnerNamespace.get('stage_globals');
    const refreshImports = runnerNamespace.get('refresh_imports');
    const sitePackages = String(runnerNamespace.get('SITE_PACKAGES'));

    // A file that grew past what V8 may allocate for ArrayBuffers threw a RangeError up through the
    // Python frames writing it, and the interpreter was lost. Make it ENOSPC (an OSError in Python).
    const MEMFS = FS.filesystems && FS.filesystems.MEMFS;
    const fileOps = MEMFS && MEMFS.ops_table && MEMFS.ops_table.file;
    function noSpaceOnRangeError(ops, name) {
      const original = ops && ops[name];
      if (typeof original !== 'function') return;
      ops[name] = function (...args) {
        try { return original.apply(this, args); } catch (e) {
          if (e instanceof RangeError) throw new FS.ErrnoError(ENOSPC);
          throw e;
        }
      };
    }
    noSpaceOnRangeError(fileOps && fileOps.stream, 'write');
    noSpaceOnRangeError(fileOps && fileOps.node, 'setattr');
    for (const dir of ['/data', '/out']) {
      try { FS.mkdir(dir); } catch { /* exists */ }
    }

    const failed = (code, size = 0) => ({ [K.fileError]: code, [K.fileSize]: size });
    function lookup(parent, name) {
      try { return FS.lookupNode(parent, name); } catch (e) {
        if (e && e.errno === 44) return null;
        throw e;
      }
    }
    function componentsOf(path) {
      const p = String(path).split('/');
      return p.length >= 2 && p[0] === '' && p.slice(1).every((c) => c !== '' && c !== '.' && c !== '..') ? p.slice(1) : null;
    }
    // The folder node that holds the last component (creating folders on the way when asked), or a FileError number.
    function folderOf(components, create) {
      let node = FS.root;
      let path = '';
      for (let i = 0; i < components.length - 1; i++) {
        path += '/' + components[i];
        let child = lookup(node, components[i]);
        if (child === null) {
          if (!create) return fileErrors.notFound;
          child = FS.mkdir(path);
        }
        if (FS.isLink(child.mode)) return fileErrors.linkOnPath;
        if (!FS.isDir(child.mode)) return fileErrors.notFolder;
        if (FS.isMountpoint(child)) return fileErrors.mountPointOnPath;
        node = child;
      }
      return node;
    }
    // The FileError number for a node that is not a regular file.
    function notFile(node) {
      return FS.isLink(node.mode) ? fileErrors.linkOnPath : FS.isDir(node.mode) ? fileErrors.isFolder : fileErrors.notRegularFile;
    }
    function failure(e) {
      if (e instanceof RangeError) return failed(fileErrors.noSpace);
      return failed((e && byErrno[e.errno]) ?? fileErrors.io);
    }
    function writeFile(path, buffer) {
      try {
        const components = componentsOf(path);
        if (components === null || !(buffer instanceof ArrayBufferOf)) return failed(fileErrors.invalidPath);
        const folder = folderOf(components, true);
        if (typeof folder === 'number') return failed(folder);
        const existing = lookup(folder, components[components.length - 1]);
        if (existing !== null && !FS.isFile(existing.mode)) return failed(notFile(existing));
        // canOwn: the file keeps this buffer instead of a copy.
        FS.writeFile(path, new Uint8ArrayOf(buffer), { canOwn: true });
        hostBytesWritten += buffer.byteLength;
        return null;
      } catch (e) {
        return failure(e);
      }
    }
    // A view of the file's bytes (MEMFS keeps them in one typed array: no copy), or a failure.
    function readFile(path, maxBytes) {
      try {
        const components = componentsOf(path);
        if (components === null) return failed(fileErrors.invalidPath);
        const folder = folderOf(components, false);
        if (typeof folder === 'number') return failed(folder);
        const node = lookup(folder, components[components.length - 1]);
        if (node === null) return failed(fileErrors.notFound);
        if (!FS.isFile(node.mode)) return failed(notFile(node));
        const size = typeof node.usedBytes === 'number' ? node.usedBytes : FS.stat(path).size;
        if (size > maxBytes) return failed(fileErrors.tooLarge, size);
        if (size === 0) return new Uint8ArrayOf(0);
        return node.contents instanceof Uint8ArrayOf ? node.contents.subarray(0, size) : FS.readFile(path);
      } catch (e) {
        return failure(e);
      }
    }
    function allocate(size) {
      try { return new ArrayBufferOf(size); } catch { return null; }
    }
    // --- Reset: the file system's tree back to its started state -----------------------------
    // Recorded at the start: every node, where it hangs, and what a file operation could change on it.
    // The started files are made read-only then (nothing writes them later: the host writes only new
    // files), so their bytes cannot change in place. A reset removes every node added since, puts the
    // started nodes' times back, and refuses (a new isolate) if a started node was moved, removed,
    // relinked or had its mode or contents changed.
    let pristineFiles = new Map();
    let pristineCwd = '/';
    // The isolate's ArrayBuffer limit keeps counting the buffers of files the host wrote after those files are
    // removed (not found why: buffers made in the realm are freed), so an isolate takes only so much of them
    // over its life before a reset replaces it instead.
    let hostBytesWritten = 0;
    const hostBytesTooMany = () => hostBytesWritten > config.maxHostFileBytesPerIsolate;
    function record(node, parentPath) {
      const path = parentPath === null ? '/' : (parentPath === '/' ? '/' : parentPath + '/') + node.name;
      const children = FS.isDir(node.mode) && node.contents && typeof node.contents === 'object' && !FS.isMountpoint(node)
        ? new Map(Object.entries(node.contents)) : null;
      if (FS.isFile(node.mode)) node.mode &= ~0o222;
      pristineFiles.set(node, {
        path, parent: node.parent, name: node.name, mode: node.mode, link: node.link,
        contents: node.contents, usedBytes: node.usedBytes, children,
        atime: node.atime, mtime: node.mtime, ctime: node.ctime,
      });
      if (children) for (const child of children.values()) record(child, path);
    }
    function markPristineFiles() {
      pristineFiles = new Map();
      record(FS.root, null);
      pristineCwd = FS.cwd();
    }
    // False when a started node changed in a way that is not put back.
    function restoreFiles() {
      FS.currentPath = pristineCwd; // first: a folder to remove may be the current one
      // What the code made may have no write permission (os.mkdir(path, 0)): removed all the same.
      const ignoring = FS.ignorePermissions;
      FS.ignorePermissions = true;
      try {
        return restoreTree();
      } finally {
        FS.ignorePermissions = ignoring;
      }
    }
    function restoreTree() {
      for (const [node, was] of pristineFiles) {
        if (node.parent !== was.parent || node.name !== was.name || node.mode !== was.mode || node.link !== was.link
          || node.contents !== (was.children ? node.contents : was.contents) || node.usedBytes !== was.usedBytes) return false;
        if (was.children) {
          for (const [name, child] of was.children) if (node.contents[name] !== child) return false;
          for (const [name, child] of Object.entries(node.contents)) {
            if (!was.children.has(name)) removeTree(was.path === '/' ? '/' + name : was.path + '/' + name, child);
          }
        }
      }
      for (const [node, was] of pristineFiles) {
        node.atime = was.atime;
        node.mtime = was.mtime;
        node.ctime = was.ctime;
      }
      return true;
    }
    function removeTree(path, node) {
      if (FS.isDir(node.mode) && !FS.isMountpoint(node) && node.contents && typeof node.contents === 'object') {
        for (const [name, child] of Object.entries(node.contents)) removeTree(path + '/' + name, child);
        FS.rmdir(path);
      } else {
        FS.unlink(path);
      }
    }
    return {
      markPristineFiles,
      restoreFiles,
      hostBytesTooMany,
      allocate,
      writeFile,
      readFile,
      stageGlobals: (json) => void stageGlobals(json),
      refreshImports: () => void refreshImports(),
      sitePackages: () => sitePackages,
    };
  }

  function start(pyodide) {
    fs = pyodide.FS;
    statelessDevices = ['/dev/null', '/dev/random', '/dev/urandom'].map((path) => fs.lookupPath(path).node);
    pyodide.setStdout({ write: stdout.write, isatty: false });
    pyodide.setStderr({ write: stderr.write, isatty: false });

    // The host writes 2 (SIGINT) into this buffer from another thread. Python's check reads the
    // buffer and then writes 0 back, two steps: a host write landing between them would be lost, and
    // a tight loop checks millions of times a second (about one soft stop in ten was lost). So Python
    // gets a view whose read takes the flag atomically and whose write of 0 does nothing. Taking the
    // flag is noted: a run that ends after it was stopped by the host, whatever exception it raised.
    const interruptBuffer = new Int32Array(new SharedArrayBuffer(4));
    let interrupted = false;
    pyodide.setInterruptBuffer({
      get 0() {
        const signal = Atomics.exchange(interruptBuffer, 0, 0);
        if (signal !== 0) interrupted = true;
        return signal;
      },
      set 0(value) { if (value) Atomics.store(interruptBuffer, 0, value); },
    });

    // The runner was loaded by the template (Preload.py); taking it out of sys.modules leaves user
    // code no name to import it by.
    const runnerNamespace = pyodide.runPython('import sys\nsys.modules.pop(' + stringify(names.runnerModule) + ').__dict__');
    const pyPrepare = runnerNamespace.get('prepare');
    const pyRunSync = runnerNamespace.get('run_sync');
    const pyRunAsync = runnerNamespace.get('run_async');
    const pyEndRun = runnerNamespace.get('end_run');
    // Host functions (SandboxOptions.Functions): Python gets this one JS function, never the bridge. Two strings
    // cross (a name, JSON arguments) and one comes back (a JSON reply); the host checks everything again
    // (FunctionBridge). null back means the host stopped the run during the call: Python raises KeyboardInterrupt,
    // which is the run taking the host's soft interrupt.
    const refusedCall = stringify({ error: 'a host function takes a name and JSON text', kind: 'refused' });
    const failedCall = stringify({ error: 'the host function call failed', kind: 'failed' });
    // An arrow function: no `prototype`, no `caller`; nothing on it but its length and name.
    const callHost = (name, args) => {
      if (typeof name !== 'string' || typeof args !== 'string') return refusedCall;
      // Refused before it crosses: a string of hundreds of MiB would otherwise be copied into .NET first.
      if (args.length > config.maxOutputBytes) return stringify({ error: 'the arguments are larger than ' + config.maxOutputBytes + ' bytes of JSON', kind: 'arguments' });
      let reply;
      try { reply = functions.Call(name, args); } catch { return failedCall; }
      if (reply === null || reply === undefined) {
        // The run is being stopped: Python raises KeyboardInterrupt for this call. Taking the host's pending
        // SIGINT here keeps a second one from landing while the runner describes the first (it lost the traceback).
        Atomics.exchange(interruptBuffer, 0, 0);
        interrupted = true;
        return undefined; // Python None
      }
      return typeof reply === 'string' ? reply : failedCall;
    };
    runnerNamespace.get('start')(config.maxOutputBytes, !!config.allowJsInterop,
      functions ? String(config.functions) : undefined, functions ? callHost : undefined); // undefined: Python None (null is jsnull)

    // Boot is done: nothing may read assets any more.
    assets = null;
    delete g.read;
    delete g.readbuffer;
    delete g.load;

    // --- The one envelope writer: every run's answer, whoever made its result ----------------------
    const key = (name) => stringify(name) + ':';
    const [kResult, kFailure, kStdout, kStdoutCut, kStderr, kStderrCut] =
      [K.result, K.failure, K.stdout, K.stdoutTruncated, K.stderr, K.stderrTruncated].map(key);
    const [kCrashed, kMemoryRefused, kInterrupted] = [K.crashed, K.memoryRefused, K.interrupted].map((name) => ',' + key(name) + 'true');
    // `result`: the runner's result record (JSON text); or `failure`: an error record, when the runner gave none.
    function envelope({ result, failure, crashed = false }) {
      return '{' + (result !== undefined ? kResult + result : kFailure + stringify(failure))
        + ',' + kStdout + stringify(outputText(stdout, crashed)) + ',' + kStdoutCut + stdout.truncated
        + ',' + kStderr + stringify(outputText(stderr, crashed)) + ',' + kStderrCut + stderr.truncated
        + (crashed ? kCrashed : '') + (memoryRefused ? kMemoryRefused : '') + (interrupted ? kInterrupted : '') + '}';
    }
    function errorRecord(type, message, line, traceback) {
      return { [K.type]: type, [K.message]: message, [K.line]: line, [K.traceback]: traceback };
    }
    // After a crash Pyodide dumps the Python stack into the output; the runner's frames are not the user's.
    const runnerFrame = '  File ' + stringify(names.runnerFile) + ', line ';
    function outputText(sink, crashed) {
      const text = sink.text();
      return crashed ? text.split('\n').filter((line) => !line.startsWith(runnerFrame)).join('\n') : text;
    }

    // A trap in WebAssembly (out-of-bounds access, a null function pointer, `unreachable`, the stack
    // exhausted) or a JavaScript error inside Pyodide's own machinery unwinds through C frames that never
    // clean up: Pyodide calls that a fatal error, and the interpreter is no longer consistent. The run
    // that met it ends with `crashed`, and the host replaces the sandbox; a crash between runs (in a
    // finalizer) is reported by the next run. Only a PythonError may leave the runner without a crash.
    const { PythonError } = pyodide.ffi;
    let fatal = null;
    pyodide._api.on_fatal = (e) => { fatal = fatal ?? e; };
    function crashed(e) {
      let what;
      try { what = String(e?.message ?? e).split('\n')[0].slice(0, 500); } catch { what = 'an unprintable error'; }
      const message = 'the interpreter crashed (' + what + ') and its state is lost';
      return envelope({ failure: errorRecord('SystemError', message, 'SystemError: ' + message, 'SystemError: ' + message + '\n'), crashed: true });
    }

    // An exception that escapes the runner's own code: a stop that landed just after the user's code
    // ended, or a trace or profile function that code left to raise inside the runner. Python itself
    // is intact, so the run is reported as failed with that exception once the run's end is done
    // again (hooks dropped, output flushed); if even that fails, the interpreter is not trusted again.
    function runnerFailed(e) {
      if (fatal !== null || !(e instanceof PythonError)) return crashed(fatal ?? e);
      pyEndRun();
      const type = typeof e.type === 'string' ? e.type : 'RuntimeError';
      // Pyodide's message is the whole traceback, through the runner's frames: keep its last line.
      const lines = String(e.message).trim().split('\n');
      const line = lines[lines.length - 1] || type;
      const message = line.startsWith(type + ': ') ? line.slice(type.length + 2) : '';
      return envelope({ failure: errorRecord(type, message, line, line + '\n') });
    }
    function failedOrCrashed(e) {
      try { return runnerFailed(e); } catch (again) { return crashed(again); }
    }

    // A crash that the code caught (a trap can surface as a Python exception) still ends the sandbox.
    function finished(result) {
      return fatal !== null ? crashed(fatal) : envelope({ result });
    }

    // Returns the result envelope, or null when the code awaits: the host then polls.
    let pending = null;
    function run(code) {
      stdout.reset();
      stderr.reset();
      memoryRefused = false;
      interrupted = false;
      if (fatal !== null) return crashed(fatal);
      try {
        if (!pyPrepare(code)) return finished(pyRunSync());
      } catch (e) {
        return failedOrCrashed(e);
      }
      pending = { done: null };
      const current = pending;
      Promise.resolve(pyRunAsync()).then(
        (result) => { current.done = finished(result); },
        (e) => { current.done = failedOrCrashed(e); });
      return null;
    }
    // Drives an awaiting run: returns its envelope when done, else ms until the next timer (-1: none).
    function poll() {
      const wait = runDueTimers();
      if (pending && fatal !== null) {
        // The crash happened in a callback of the event loop (a timer): the run will never settle.
        pending = null;
        return crashed(fatal);
      }
      if (pending && pending.done !== null) {
        const done = pending.done;
        pending = null;
        return done;
      }
      return wait;
    }
    // Forgets an awaiting run that was abandoned (time limit): its timers must not fire later.
    function abandon() {
      pending = null;
      timers.clear();
    }

    // --- Reset in place (see guardImports) -------------------------------------------------------
    const io = makeIo(pyodide, runnerNamespace);
    const exports = mainInstance.exports;
    const Module = pyodide._module;
    const pyReseed = runnerNamespace.get('_reseed');
    const streams = () => Module.FS.streams;
    let pristine = null;
    function wasmState() {
      return {
        stack: exports.emscripten_stack_get_current(),
        stackBase: exports.emscripten_stack_get_base(),
        stackEnd: exports.emscripten_stack_get_end(),
        table: exports.__indirect_function_table.length,
        refs: exports.hiwire_num_refs(),
        libraries: Object.keys(Module.LDSO.loadedLibsByName).length,
      };
    }
    function markPristine() {
      pristine = { wasm: wasmState(), streams: streams().slice(), flags: streams().slice(0, 3).map((stream) => stream.flags) };
      if (pristine.streams.some((stream, fd) => stream && fd > 2)) touch('a file was open when the start ended', true);
      io.markPristineFiles();
      touched = neverRecycle;
      return exports.memory.buffer;
    }
    function prepareReset() {
      try {
        return prepareResetOrSayWhy();
      } catch (e) {
        return 'the file system could not be put back (' + (e && e.errno !== undefined ? 'errno ' + e.errno : 'an error') + ')';
      }
    }
    function prepareResetOrSayWhy() {
      if (pristine === null) return 'the sandbox did not finish its start';
      if (touched) return touchedBy;
      if (fatal !== null) return 'the interpreter crashed';
      if (pending !== null) return 'a run is still awaiting';
      if (io.hostBytesTooMany()) return 'the host wrote too many bytes of files into this isolate';
      const now = wasmState();
      for (const key of Object.keys(now)) {
        if (now[key] !== pristine.wasm[key]) return 'the WebAssembly state changed (' + key + ')';
      }
      const open = streams();
      for (let fd = 0; fd < 3; fd++) {
        if (open[fd] !== pristine.streams[fd] || open[fd].flags !== pristine.flags[fd]) return 'a standard stream was closed or replaced';
      }
      for (let fd = 3; fd < open.length; fd++) {
        if (open[fd]) Module.FS.close(open[fd]);
      }
      if (!io.restoreFiles()) return 'a started file or folder was changed';
      timers.clear();
      return exports.memory.buffer;
    }
    function finishReset() {
      pyReseed();
      touched = neverRecycle;
    }

    // --- The one dispatcher: a handler for each HostCall, checked complete at start -------------
    const byName = {
      run, poll, abandon,
      allocate: io.allocate, writeFile: io.writeFile, readFile: io.readFile,
      stageGlobals: io.stageGlobals, refreshImports: io.refreshImports, sitePackages: io.sitePackages,
      markPristine, prepareReset, finishReset,
    };
    const handlers = [];
    for (const [name, number] of Object.entries(calls)) {
      if (typeof byName[name] !== 'function') throw new Error('No handler for the host call ' + name);
      handlers[number] = byName[name];
    }
    // The runner's own crossings per host call (measured; see `glue`): a call that makes more reached
    // JavaScript on its own. Host calls not listed make none.
    const budgets = [];
    budgets[calls.run] = [1, 1, 2, 2, 1];
    budgets[calls.stageGlobals] = [1, 1, 1, 1, 0];
    budgets[calls.finishReset] = [0, 0, 1, 1, 0];
    const noBudget = [0, 0, 0, 0, 0];
    const before = [0, 0, 0, 0, 0];
    const dispatch = (call, a, b) => {
      for (let i = 0; i < 5; i++) before[i] = glueCalls[i];
      try {
        return handlers[call](a, b);
      } finally {
        const budget = budgets[call] ?? noBudget;
        for (let i = 0; i < 5; i++) {
          if (glueCalls[i] - before[i] > budget[i]) touch('the code called into JavaScript');
        }
      }
    };
    return { dispatch, interruptBuffer, version: pyodide.version };
  }

  const started = boot().catch((e) => {
    throw new Error('Pyodide failed to boot: ' + String(e && e.stack || e).slice(0, 4000));
  });
  return { started, log: () => bootLog.join('\n').slice(0, 8000) };
})
