OK_FORMAT = True

test = {   'name': 'q1',
    'points': None,
    'suites': [   {   'cases': [   {   'code': '>>> scale = torch.tensor(math.log(10.0))\n'
                                               '>>> loss = lit_loss(torch.randn(8, 5), F.normalize(torch.randn(8, 5), dim=1), nn.Identity(), scale)\n'
                                               '>>> assert torch.is_tensor(loss) and loss.ndim == 0\n',
                                       'hidden': False,
                                       'locked': False,
                                       'points': 1},
                                   {   'code': '>>> pairs = torch.eye(6)\n>>> assert lit_loss(pairs, pairs, nn.Identity(), torch.tensor(math.log(100.0))).item() < 0.001\n',
                                       'hidden': False,
                                       'locked': False,
                                       'points': 1}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
