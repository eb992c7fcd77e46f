OK_FORMAT = True

test = {   'name': 'q2',
    'points': None,
    'suites': [   {   'cases': [   {   'code': '>>> layer, s = (nn.Linear(4, 3), nn.Parameter(torch.tensor(math.log(1 / 0.07))))\n'
                                               '>>> before = layer.weight.detach().clone()\n'
                                               '>>> value = train_step(layer, s, torch.optim.SGD([*layer.parameters(), s], lr=0.1), torch.randn(6, 4), F.normalize(torch.randn(6, 3), dim=1))\n'
                                               '>>> assert isinstance(value, float) and (not torch.equal(before, layer.weight))\n',
                                       'hidden': False,
                                       'locked': False,
                                       'points': 1}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
