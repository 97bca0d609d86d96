import type { cri } from '@crisp/api';
import { listMetricDescriptors as descriptors } from '../stats/service';

export async function listMetricDescriptors(_req: cri.ListMetricDescriptorsRequest): Promise<cri.ListMetricDescriptorsResponse> {
  return { descriptors: descriptors() };
}
