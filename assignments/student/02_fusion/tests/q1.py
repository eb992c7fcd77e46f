OK_FORMAT = True

test = {   'name': 'q1',
    'points': None,
    'suites': [   {   'cases': [   {   'code': '>>> fusion = WeightedSumFusion(IN_DIMS, OUT_DIM)\n'
                                               '>>> assert fusion(test_features).shape == (1000, OUT_DIM)\n'
                                               '>>> assert abs(fusion.weights().sum().item() - 1) < 1e-06\n',
                                       'hidden': False,
                                       'locked': False,
                                       'points': 1}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
