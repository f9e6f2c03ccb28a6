import { X509Certificate, createPrivateKey } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { experimental } from "@grpc/grpc-js";

type CertificateProvider = experimental.CertificateProvider;
type IdentityListener = experimental.IdentityCertificateUpdateListener;
type CaListener = experimental.CaCertificateUpdateListener;

/** The PEM files of a TLS server: its certificate chain and key, and for mutual TLS the client CA. */
export interface CertificateFiles {
  certFile: string;
  keyFile: string;
  clientCaFile?: string;
}

interface Loaded {
  cert: Buffer;
  key: Buffer;
  clientCa?: Buffer;
}

/**
 * A server's certificate files, read again every `checkEveryMs`, so a
 * rotated certificate (a renewed Kubernetes Secret, cert-manager) is served
 * to new connections without a restart. A change is taken only once the
 * files agree (the key is the certificate's); until then, and when a file
 * cannot be read, the last good ones stay. `initial` is what the caller
 * already read and checked at start.
 *
 * grpc-js asks for its first certificates when a server binds; they are
 * handed over on a microtask, after it has registered to hear them.
 */
export class ReloadingCertificateFiles implements CertificateProvider {
  private readonly identityListeners = new Set<IdentityListener>();
  private readonly caListeners = new Set<CaListener>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly files: CertificateFiles,
    private current: Loaded,
    private readonly checkEveryMs: number,
  ) {}

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    queueMicrotask(() => listener({ certificate: this.current.cert, privateKey: this.current.key }));
    this.watch();
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
    this.unwatchWhenUnheard();
  }

  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    queueMicrotask(() => listener(this.current.clientCa ? { caCertificate: this.current.clientCa } : null));
    this.watch();
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
    this.unwatchWhenUnheard();
  }

  private watch(): void {
    if (this.timer || this.checkEveryMs <= 0) return;
    this.timer = setInterval(() => void this.check(), this.checkEveryMs);
    this.timer.unref();
  }

  private unwatchWhenUnheard(): void {
    if (this.identityListeners.size > 0 || this.caListeners.size > 0) return;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async check(): Promise<void> {
    const read = await this.read().catch(() => undefined);
    if (!read || !certificateMatchesKey(read.cert, read.key)) return;
    const identityChanged = !read.cert.equals(this.current.cert) || !read.key.equals(this.current.key);
    const caChanged = Boolean(read.clientCa && this.current.clientCa && !read.clientCa.equals(this.current.clientCa));
    this.current = read;
    if (identityChanged) for (const listener of this.identityListeners) listener({ certificate: read.cert, privateKey: read.key });
    if (caChanged) for (const listener of this.caListeners) listener({ caCertificate: read.clientCa! });
  }

  private async read(): Promise<Loaded> {
    const [cert, key, clientCa] = await Promise.all([
      readFile(this.files.certFile),
      readFile(this.files.keyFile),
      this.files.clientCaFile ? readFile(this.files.clientCaFile) : undefined,
    ]);
    return { cert, key, clientCa };
  }
}

/** True when the key is the certificate's: a Secret caught halfway through its update is not. */
export function certificateMatchesKey(cert: Buffer, key: Buffer): boolean {
  try {
    return new X509Certificate(cert).checkPrivateKey(createPrivateKey(key));
  } catch {
    return false;
  }
}
