OK_FORMAT = True

test = {   'name': 'q1',
    'points': None,
    'suites': [   {   'cases': [   {   'code': '>>> loss = symmetric_contrastive_loss(torch.randn(8, 4), torch.randn(8, 4))\n>>> assert torch.is_tensor(loss) and loss.ndim == 0\n',
                                       'hidden': False,
                                       'locked': False,
                                       'points': 1},
                                   {   'code': '>>> aligned = torch.eye(6)\n>>> assert symmetric_contrastive_loss(aligned, aligned, temperature=0.05).item() < 0.001\n',
                                       'hidden': False,
                                       'locked': False,
                                       'points': 1}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
