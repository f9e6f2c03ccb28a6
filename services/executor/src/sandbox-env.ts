/** What the sandbox environment is built from. */
export interface SandboxEnvOptions {
  /** Folder of the virtualenv's executables, first on PATH. */
  binDir: string;
  /** Private scratch folder: HOME and TMPDIR. */
  scratchDir: string;
  /** Upper bound for the thread pools of BLAS, OpenMP and friends. */
  threads: number;
  gpus: number;
}

/**
 * The complete environment of a generated program, built from scratch so no
 * variable of the service (credentials, tokens, service config) can reach it.
 */
export function sandboxEnv(options: SandboxEnvOptions): Record<string, string> {
  return {
    PATH: `${options.binDir}:/usr/bin:/bin`,
    ...programEnv(options.scratchDir, options.threads),
    // A local run gets no GPU unless asked; then the first ones.
    CUDA_VISIBLE_DEVICES: Array.from({ length: Math.max(0, options.gpus) }, (_, index) => String(index)).join(","),
  };
}

/**
 * What every program's environment holds, wherever it runs: its scratch
 * folder as HOME and TMPDIR, a UTF-8 locale, unbuffered Python, and bounded
 * thread pools. They are bounded because every OpenBLAS/OpenMP thread
 * reserves its own buffers, which counts against the memory limit (measured:
 * about 80 MB of data segment per extra thread with numpy, sklearn and
 * lightgbm loaded).
 */
export function programEnv(scratchDir: string, threads: number): Record<string, string> {
  const count = String(Math.max(1, Math.floor(threads)));
  return {
    HOME: scratchDir,
    TMPDIR: scratchDir,
    LANG: "C.UTF-8",
    LC_ALL: "C.UTF-8",
    PYTHONUNBUFFERED: "1",
    PYTHONDONTWRITEBYTECODE: "1",
    OMP_NUM_THREADS: count,
    OPENBLAS_NUM_THREADS: count,
    MKL_NUM_THREADS: count,
    NUMEXPR_MAX_THREADS: count,
    NUMEXPR_NUM_THREADS: count,
    // Templates size their own worker pools (n_jobs, num_threads) from this.
    MLZERO_CPUS: count,
  };
}
