/** A TLS failure of a connection to fleetd, in words that say which flag to fix. Pure. */
export function tlsProblem(e: Error): string | undefined {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  const m = e.message;
  if (/certificate required|alert number 116|handshake failure/i.test(m))
    return 'the server wants a client certificate it trusts: pass --cert-file and --key-file (FLEETCTL_CERT_FILE, FLEETCTL_KEY_FILE) of a certificate signed by the cluster CA';
  if (/unknown ca|bad certificate|alert number 4[28]/i.test(m))
    return 'the server does not trust our client certificate: pass --cert-file and --key-file of a certificate signed by the cluster CA';
  if (/SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|CERT_UNTRUSTED/.test(code))
    return "the server's certificate is not signed by a CA we trust: pass the cluster CA as --ca-file (FLEETCTL_CA_FILE)";
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID')
    return `the server's certificate is not for this address (${m}); use the address its certificate names`;
  if (code === 'CERT_HAS_EXPIRED') return "the server's certificate has expired; renew it";
  if (/CERT|SSL|TLS|ERR_OSSL/.test(code)) return `TLS: ${m.split('\n')[0]}`;
  return undefined;
}
