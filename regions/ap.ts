export default {
  name: 'ap',
  awsRegion: 'ap-southeast-1',
  role: 'secondary',
  nodeCount: 2,
  maxNodeCount: 8,
  cidr: '10.30.0.0/16',
  availabilityZones: ['ap-southeast-1a', 'ap-southeast-1b', 'ap-southeast-1c'],
  dnsWeight: 100,
  healthCheckPath: '/ready/read',
  databaseOrigin: { replicaOf: 'eu' },
  alarmNotifications: [],
} as const;
