import { X509Certificate, createPrivateKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import type { experimental } from "@grpc/grpc-js";

type CertificateProvider = experimental.CertificateProvider;
type IdentityListener = experimental.IdentityCertificateUpdateListener;
type CaListener = experimental.CaCertificateUpdateListener;

/**
 * The PEM files of one side of TLS: its own certificate chain and key (a
 * server's identity, or a client's certificate for mutual TLS), and the CA
 * it checks the other side against (a server's client CA, a client's
 * server CA).
 */
export interface CertificateFiles {
  certFile?: string;
  keyFile?: string;
  caFile?: string;
}

/** The files' contents. */
export interface LoadedCertificates {
  cert?: Buffer;
  key?: Buffer;
  ca?: Buffer;
}

/**
 * Certificate files read again every `checkEveryMs`, so a rotated
 * certificate (a renewed Kubernetes Secret, cert-manager) is used for new
 * connections without a restart. A change is taken only once the files
 * agree (the key is the certificate's); until then, and when a file cannot
 * be read, the last good ones stay. `current` is what the caller already
 * read and checked at start. The files are watched only while grpc-js
 * listens (a bound server, a channel with a connection).
 */
export class ReloadingCertificateFiles implements CertificateProvider {
  private readonly identityListeners = new Set<IdentityListener>();
  private readonly caListeners = new Set<CaListener>();
  private timer: NodeJS.Timeout | undefined;
  /** Nobody listened for a while: the files may have changed meanwhile. */
  private unwatched = false;

  constructor(
    private readonly files: CertificateFiles,
    private current: LoadedCertificates,
    private readonly checkEveryMs: number,
  ) {}

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    this.tell(() => listener(identityOf(this.current)));
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
    this.unwatchWhenUnheard();
  }

  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    this.tell(() => listener(this.current.ca ? { caCertificate: this.current.ca } : null));
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
    this.unwatchWhenUnheard();
  }

  /**
   * Gives a new listener the current files, at once and again on a
   * microtask: grpc-js reads a channel's certificates as soon as it asks,
   * but registers a server's watcher only after asking. Files that went
   * unwatched (a client's connections all closed, then a new one opens) are
   * read first, since grpc-js would otherwise connect with what it last heard.
   */
  private tell(emit: () => void): void {
    if (this.unwatched) {
      this.unwatched = false;
      const read = this.readNow();
      if (read && usable(read)) this.current = read;
    }
    emit();
    queueMicrotask(emit);
    this.watch();
  }

  private watch(): void {
    if (this.timer || this.checkEveryMs <= 0) return;
    this.timer = setInterval(() => void this.check(), this.checkEveryMs);
    this.timer.unref();
  }

  private unwatchWhenUnheard(): void {
    if (this.identityListeners.size > 0 || this.caListeners.size > 0 || !this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
    this.unwatched = true;
  }

  private async check(): Promise<void> {
    const read = await this.read().catch(() => undefined);
    if (!read || !usable(read)) return;
    const changed = (part: keyof LoadedCertificates) => !sameBytes(read[part], this.current[part]);
    const identityChanged = changed("cert") || changed("key");
    const caChanged = changed("ca");
    this.current = read;
    if (identityChanged) for (const listener of this.identityListeners) listener(identityOf(read));
    if (caChanged) for (const listener of this.caListeners) listener(read.ca ? { caCertificate: read.ca } : null);
  }

  private async read(): Promise<LoadedCertificates> {
    const load = (file: string | undefined) => (file ? readFile(file) : undefined);
    const [cert, key, ca] = await Promise.all([load(this.files.certFile), load(this.files.keyFile), load(this.files.caFile)]);
    return { cert, key, ca };
  }

  private readNow(): LoadedCertificates | undefined {
    const load = (file: string | undefined) => (file ? readFileSync(file) : undefined);
    try {
      return { cert: load(this.files.certFile), key: load(this.files.keyFile), ca: load(this.files.caFile) };
    } catch {
      return undefined;
    }
  }
}

/** Files that agree: no key, or the certificate's own. */
function usable({ cert, key }: LoadedCertificates): boolean {
  return !cert || !key || certificateMatchesKey(cert, key);
}

function identityOf({ cert, key }: LoadedCertificates): experimental.IdentityCertificateUpdate | null {
  return cert && key ? { certificate: cert, privateKey: key } : null;
}

function sameBytes(a: Buffer | undefined, b: Buffer | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && a.equals(b));
}

/** True when the key is the certificate's: a Secret caught halfway through its update is not. */
export function certificateMatchesKey(cert: Buffer, key: Buffer): boolean {
  try {
    return new X509Certificate(cert).checkPrivateKey(createPrivateKey(key));
  } catch {
    return false;
  }
}
