import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { createCertificateAuthority } from '../../lib/pki/index.ts';
import type { KubeObject } from '../../policies/kube.ts';

/**
 * Policy fixtures: a minimal production deployment that passes every rule, and for each rule a
 * violating variant that differs from a compliant one in exactly the aspect that rule guards, so a test
 * can assert it fails that rule and no other.
 */

const IMAGE = 'ghcr.io/obkit/obkit:0.1.0';

export function labels(component: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'obkit',
    'app.kubernetes.io/instance': 'obkit',
    'app.kubernetes.io/component': component,
    'app.kubernetes.io/part-of': 'obkit',
  };
}

function selector(component: string) {
  return {
    matchLabels: {
      'app.kubernetes.io/name': 'obkit',
      'app.kubernetes.io/instance': 'obkit',
      'app.kubernetes.io/component': component,
    },
  };
}

export function deployment(component: string, replicas = 1): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: `obkit-${component}`, namespace: 'obkit', labels: labels(component) },
    spec: {
      replicas,
      selector: selector(component),
      template: {
        metadata: { labels: labels(component) },
        spec: {
          securityContext: { runAsNonRoot: true, runAsUser: 10001, fsGroup: 10001 },
          containers: [
            {
              name: component,
              image: IMAGE,
              args: ['node', `services/${component}/main.ts`],
              ports: [{ name: 'https', containerPort: 8243 }],
              env: [
                { name: 'OBKIT_CONFIG', value: '/etc/obkit/config/obkit.toml' },
                {
                  name: 'OBKIT_ADMIN_PASSWORD',
                  valueFrom: { secretKeyRef: { name: 'obkit-admin', key: 'password' } },
                },
              ],
              securityContext: {
                runAsNonRoot: true,
                runAsUser: 10001,
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'] },
              },
              resources: {
                requests: { cpu: '100m', memory: '256Mi' },
                limits: { cpu: '1', memory: '512Mi' },
              },
              volumeMounts: [{ name: 'truststore', mountPath: '/etc/obkit/truststore' }],
            },
          ],
          volumes: [{ name: 'truststore', secret: { secretName: 'obkit-truststore' } }],
        },
      },
    },
  };
}

export function networkPolicy(component: string): KubeObject {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: `obkit-${component}`, namespace: 'obkit', labels: labels(component) },
    spec: { podSelector: selector(component), policyTypes: ['Ingress'], ingress: [] },
  };
}

export function podDisruptionBudget(component: string): KubeObject {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: { name: `obkit-${component}`, namespace: 'obkit', labels: labels(component) },
    spec: { minAvailable: 1, selector: selector(component) },
  };
}

export function service(component: string, type = 'ClusterIP'): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: `obkit-${component}`, namespace: 'obkit', labels: labels(component) },
    spec: { type, selector: selector(component).matchLabels, ports: [{ port: 8243, targetPort: 'https' }] },
  };
}

export function obkitConfigMap(toml: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'obkit-config', namespace: 'obkit', labels: labels('config') },
    data: { 'obkit.toml': toml },
  };
}

export const PRODUCTION_TOML = `[obkit]
mode = "production"
hostname = "cdr.example.com"
bind_address = "0.0.0.0"
allow_private_addresses = false

[obkit.admin]
username = "admin"
password = ""

[obkit.tls]
certificate = "/etc/obkit/tls/tls.crt"
private_key = "/etc/obkit/tls/tls.key"
`;

export function truststoreSecret(bundle: string, extraLabels: Record<string, string> = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'obkit-truststore', namespace: 'obkit', labels: { ...labels('pki'), ...extraLabels } },
    type: 'Opaque',
    data: { 'ca-bundle.pem': Buffer.from(bundle).toString('base64') },
  };
}

/** A minimal production deployment that passes every rule: 2 gateway replicas with PDB and policy. */
export function compliantProduction(): KubeObject[] {
  return [
    obkitConfigMap(PRODUCTION_TOML),
    deployment('gateway', 2),
    service('gateway', 'LoadBalancer'),
    networkPolicy('gateway'),
    podDisruptionBudget('gateway'),
    deployment('identity-server'),
    service('identity-server'),
    networkPolicy('identity-server'),
  ];
}

function find(objects: KubeObject[], kind: string, name: string): KubeObject {
  const found = objects.find((object) => object.kind === kind && object.metadata?.name === name);
  if (!found) throw new Error(`fixture has no ${kind} ${name}`);
  return found;
}

/** The first container of the named Deployment of a fixture, to mutate. */
export function containerOf(objects: KubeObject[], deploymentName: string): KubeObject {
  return find(objects, 'Deployment', deploymentName).spec.template.spec.containers[0];
}

/** A self-signed CA as the CDR Register would supply it (no "sandbox" anywhere in it). */
export async function suppliedCaPem(): Promise<string> {
  // lib/pki (imported above) installs WebCrypto as @peculiar/x509's provider.
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=CDR Root CA, O=Example Register',
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    keys,
    signingAlgorithm: algorithm,
    extensions: [new x509.BasicConstraintsExtension(true, 1, true)],
  });
  return certificate.toString('pem');
}

export async function sandboxCaPem(): Promise<string> {
  return (await createCertificateAuthority('obkit sandbox root CA')).certificatePem;
}

export interface RuleFixture {
  compliant: () => Promise<KubeObject[]> | KubeObject[];
  violating: () => Promise<KubeObject[]> | KubeObject[];
  /** What the violation message must say. */
  message: RegExp;
}

export const ruleFixtures: Record<string, RuleFixture> = {
  'containers-run-as-non-root': {
    compliant: compliantProduction,
    violating: () => {
      const objects = compliantProduction();
      containerOf(objects, 'obkit-identity-server').securityContext.runAsUser = 0;
      return objects;
    },
    message: /container 'identity-server' runs as root/,
  },
  'containers-no-privilege-escalation': {
    compliant: compliantProduction,
    violating: () => {
      const objects = compliantProduction();
      delete containerOf(objects, 'obkit-gateway').securityContext.allowPrivilegeEscalation;
      return objects;
    },
    message: /container 'gateway' does not set allowPrivilegeEscalation: false/,
  },
  'containers-resources-set': {
    compliant: compliantProduction,
    violating: () => {
      const objects = compliantProduction();
      delete containerOf(objects, 'obkit-gateway').resources.limits;
      return objects;
    },
    message: /container 'gateway' does not set limits\.cpu, limits\.memory/,
  },
  'images-pinned': {
    compliant: compliantProduction,
    violating: () => {
      const objects = compliantProduction();
      containerOf(objects, 'obkit-gateway').image = 'ghcr.io/obkit/obkit:latest';
      return objects;
    },
    message: /image 'ghcr\.io\/obkit\/obkit:latest' uses the moving tag 'latest'/,
  },
  'credentials-only-in-secrets': {
    compliant: compliantProduction,
    violating: () => {
      const objects = compliantProduction();
      containerOf(objects, 'obkit-identity-server').env[1] = {
        name: 'OBKIT_ADMIN_PASSWORD',
        value: 'hunter2',
      };
      return objects;
    },
    message: /env OBKIT_ADMIN_PASSWORD holds a credential literal/,
  },
  'only-gateway-exposed': {
    compliant: compliantProduction,
    violating: () => {
      const objects = compliantProduction();
      find(objects, 'Service', 'obkit-identity-server').spec.type = 'LoadBalancer';
      return objects;
    },
    message: /Service 'obkit-identity-server' \(component identity-server\) is of type LoadBalancer/,
  },
  'network-policy-per-component': {
    compliant: compliantProduction,
    violating: () => {
      // A namespace-wide default deny does not replace the component's own policy.
      const objects = compliantProduction().filter(
        (object) => !(object.kind === 'NetworkPolicy' && object.metadata.name === 'obkit-identity-server'),
      );
      objects.push({ ...networkPolicy('default-deny'), spec: { podSelector: {}, policyTypes: ['Ingress'] } });
      return objects;
    },
    message:
      /Deployment 'obkit-identity-server' \(component identity-server\) is selected by no NetworkPolicy/,
  },
  'pdb-for-replicated-workloads': {
    compliant: compliantProduction,
    violating: () => compliantProduction().filter((object) => object.kind !== 'PodDisruptionBudget'),
    message: /Deployment 'obkit-gateway' runs up to 2 replicas but no PodDisruptionBudget selects its pods/,
  },
  'production-no-mock-register': {
    compliant: compliantProduction,
    violating: () => [...compliantProduction(), deployment('mock-register'), networkPolicy('mock-register')],
    message: /Deployment 'obkit-mock-register' belongs to the mock-register/,
  },
  'production-no-sandbox-ca': {
    compliant: async () => [...compliantProduction(), truststoreSecret(await suppliedCaPem())],
    violating: async () => [...compliantProduction(), truststoreSecret(await sandboxCaPem())],
    message:
      /Secret 'obkit-truststore' key 'ca-bundle\.pem' holds a sandbox certificate \(CN=obkit sandbox root CA/,
  },
  'production-no-private-addresses': {
    compliant: compliantProduction,
    violating: () => {
      const objects = compliantProduction();
      objects[0] = obkitConfigMap(
        PRODUCTION_TOML.replace('allow_private_addresses = false', 'allow_private_addresses = true'),
      );
      return objects;
    },
    message: /ConfigMap 'obkit-config' \(obkit\.toml\) sets allow_private_addresses = true/,
  },
  'production-gateway-replicas': {
    compliant: compliantProduction,
    violating: () => {
      const objects = compliantProduction();
      find(objects, 'Deployment', 'obkit-gateway').spec.replicas = 1;
      return objects;
    },
    message: /Deployment 'obkit-gateway' runs 1 gateway replica\(s\); production needs at least 2/,
  },
};
