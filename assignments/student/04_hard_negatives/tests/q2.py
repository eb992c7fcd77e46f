OK_FORMAT = True

test = {   'name': 'q2',
    'points': None,
    'suites': [   {   'cases': [   {   'code': '>>> u, v = (torch.randn(8, 5), torch.randn(8, 5))\n'
                                               '>>> loss = hard_negative_contrastive_loss(u, v, torch.randn(8, 5))\n'
                                               '>>> assert loss.ndim == 0 and loss.item() > plain_contrastive_loss(u, v).item() - 1e-06\n',
                                       'hidden': False,
                                       'locked': False,
                                       'points': 1}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
