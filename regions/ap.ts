export default {
  name: 'ap',
  awsRegion: 'ap-southeast-1',
  role: 'secondary',
  nodeCount: 2,
  bucketName: 'geo-callfs-ap-southeast-1',
  cidr: '10.30.0.0/16',
  dnsWeight: 100,
  healthCheckPath: '/ready',
} as const;
