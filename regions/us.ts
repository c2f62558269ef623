export default {
  name: 'us',
  awsRegion: 'us-east-1',
  role: 'secondary',
  nodeCount: 2,
  bucketName: 'geo-callfs-us-east-1',
  cidr: '10.20.0.0/16',
  dnsWeight: 100,
  healthCheckPath: '/ready',
} as const;
