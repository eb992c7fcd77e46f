OK_FORMAT = True

test = {   'name': 'q1',
    'points': None,
    'suites': [   {   'cases': [{'code': '>>> assert swap_colours(torch.tensor([[1, 9, 3, 12]])).tolist() == [[3, 9, 1, 12]]\n', 'hidden': False, 'locked': False, 'points': 1}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
